//! Refusals as RFC 9457 problem details. This is the one place that maps errors to status codes;
//! causes of server errors are logged here and never sent to the client.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::auth::AuthError;
use crate::ledger::LedgerError;
use crate::ports::PortError;

/// One invalid field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// Every way the HTTP edge refuses a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error("request body too large")]
    TooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("invalid fields")]
    Invalid(Vec<FieldError>),
    #[error("{0}")]
    Unprocessable(&'static str),
    /// Over this caller's rate limit; a token is back in this many seconds.
    #[error("too many requests for this caller and account; retry in {0} s")]
    Throttled(u64),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<LedgerError> for ApiError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::NotFound(what) => Self::NotFound(what),
            LedgerError::Conflict(why) => Self::Conflict(why),
            LedgerError::Unprocessable(why) => Self::Unprocessable(why),
            LedgerError::Field { field, reason } => Self::Invalid(vec![FieldError::new(field, reason.0)]),
            LedgerError::Port(PortError::Unavailable(cause)) => Self::Unavailable(cause),
            LedgerError::Port(PortError::Failure(cause)) => Self::Internal(cause),
            LedgerError::Overflow => Self::Internal("balance overflow".into()),
        }
    }
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request", "Bad request"),
            Self::Auth(AuthError::Unauthenticated) => (StatusCode::UNAUTHORIZED, "unauthenticated", "Unauthenticated"),
            Self::Auth(AuthError::Forbidden) => (StatusCode::FORBIDDEN, "forbidden", "Forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found", "Not found"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed", "Method not allowed"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict", "Conflict"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too-large", "Request body too large"),
            Self::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type")
            }
            Self::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "validation", "Invalid request"),
            Self::Unprocessable(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", "Request cannot be processed")
            }
            Self::Throttled(_) => (StatusCode::TOO_MANY_REQUESTS, "throttled", "Too many requests"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal", "Internal error"),
        }
    }

    /// The text clients see: specific for their own mistakes, generic for ours.
    fn detail(&self) -> String {
        match self {
            Self::Auth(AuthError::Unauthenticated) => "a valid bearer token is required".into(),
            Self::Invalid(errors) if errors.len() == 1 => format!("{}: {}", errors[0].field, errors[0].message),
            Self::Invalid(_) => "some fields are invalid; see errors".into(),
            Self::MethodNotAllowed(allow) => format!("allowed methods: {allow}"),
            Self::TooLarge => format!("request bodies are limited to {} bytes", super::BODY_BYTES_MAX),
            Self::UnsupportedMediaType => "send the body as application/json".into(),
            Self::Unavailable(_) => "the ledger is briefly unavailable; retry with the same Idempotency-Key".into(),
            Self::Internal(_) => "an internal error occurred; it has been logged".into(),
            other => other.to_string(),
        }
    }

    /// Renders the problem, logging the cause of server errors.
    pub fn into_response(self) -> Response<Body> {
        let (status, slug, title) = self.parts();
        match &self {
            Self::Internal(cause) => tracing::error!(%cause, "request failed"),
            Self::Unavailable(cause) => tracing::warn!(%cause, "backend unavailable"),
            _ => tracing::info!(status = status.as_u16(), problem = slug, "request refused"),
        }
        let errors = match &self {
            Self::Invalid(errors) => Some(errors.as_slice()),
            _ => None,
        };
        for e in errors.unwrap_or_default() {
            crate::telemetry::validation_failure(&e.field);
        }
        let problem = Problem {
            kind: format!("urn:fluxo:problem:{slug}"),
            title,
            status: status.as_u16(),
            detail: self.detail(),
            errors,
        };
        let mut response = super::respond(status, "application/problem+json", crate::views::to_json(&problem));
        if let Self::MethodNotAllowed(allow) = self {
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        let retry_after = match self {
            Self::Throttled(seconds) => Some(HeaderValue::from(seconds)),
            Self::Unavailable(_) => Some(HeaderValue::from_static("1")),
            _ => None,
        };
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, seconds);
        }
        response
    }
}
