//! Refusals as RFC 9457 problem details. This is the one place that maps errors to status codes;
//! causes of server errors are logged here and never sent to the client.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::auth::AuthError;
use crate::domain::batch::BatchRefused;
use crate::ledger::LedgerError;
use crate::views::RenderError;

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
    /// The body is over this route's limit, in bytes.
    #[error("request body too large")]
    TooLarge(usize),
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
            LedgerError::Port(e) if e.is_unavailable() => Self::Unavailable(e.chain()),
            LedgerError::Port(e) => Self::Internal(e.chain()),
            LedgerError::Overflow => Self::Internal("balance overflow".into()),
            LedgerError::Batch(refused) => refused.into(),
            LedgerError::Render(e) => e.into(),
        }
    }
}

impl From<RenderError> for ApiError {
    fn from(e: RenderError) -> Self {
        Self::Internal(format!("{e}: {}", e.0))
    }
}

impl From<BatchRefused> for ApiError {
    fn from(refused: BatchRefused) -> Self {
        let errors = match refused {
            BatchRefused::DuplicateKeys(repeats) => repeats
                .into_iter()
                .map(|(at, first)| {
                    FieldError::new(
                        format!("entries[{at}].idempotency_key"),
                        format!("repeats the key of entries[{first}]"),
                    )
                })
                .collect(),
            other => vec![FieldError::new("entries", other.to_string())],
        };
        Self::Invalid(errors)
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<FieldError>>,
}

impl Problem {
    /// The HTTP status the problem stands for.
    pub fn status(&self) -> u16 {
        self.status
    }
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
            Self::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too-large", "Request body too large"),
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
            Self::TooLarge(limit) => format!("request bodies are limited to {limit} bytes"),
            Self::UnsupportedMediaType => "send the body as application/json".into(),
            Self::Unavailable(_) => "the ledger is briefly unavailable; retry with the same Idempotency-Key".into(),
            Self::Internal(_) => "an internal error occurred; it has been logged".into(),
            other => other.to_string(),
        }
    }

    /// The problem document, with the cause of a server error logged (never sent): for answers that
    /// carry problems in their body, such as a batch's results. A client's error is not logged here:
    /// the request's own line says what was refused.
    pub fn into_problem(self) -> Problem {
        let (status, slug, title) = self.parts();
        match &self {
            Self::Internal(cause) => tracing::error!(%cause, "request failed"),
            Self::Unavailable(cause) => tracing::warn!(%cause, "backend unavailable"),
            _ => {}
        }
        let detail = self.detail();
        let errors = match self {
            Self::Invalid(errors) => Some(errors),
            _ => None,
        };
        for e in errors.iter().flatten() {
            crate::telemetry::validation_failure(&e.field);
        }
        Problem { kind: format!("urn:fluxo:problem:{slug}"), title, status: status.as_u16(), detail, errors }
    }

    /// Renders the problem, logging the cause of server errors.
    pub fn into_response(self) -> Response<Body> {
        let (status, slug, _) = self.parts();
        if status.is_client_error() {
            tracing::info!(status = status.as_u16(), problem = slug, "request refused");
        }
        let allow = match &self {
            Self::MethodNotAllowed(allow) => Some(HeaderValue::from_static(allow)),
            _ => None,
        };
        let retry_after = match &self {
            Self::Throttled(seconds) => Some(HeaderValue::from(*seconds)),
            Self::Unavailable(_) => Some(HeaderValue::from_static("1")),
            _ => None,
        };
        let body = crate::views::to_json(&self.into_problem()).unwrap_or_else(|e| {
            tracing::error!(error = %e, "a problem could not be rendered; answering a bare one");
            format!(r#"{{"title":"Error","status":{}}}"#, status.as_u16())
        });
        let mut response = super::response(status, "application/problem+json", body);
        let headers = response.headers_mut();
        if let Some(allow) = allow {
            headers.insert(header::ALLOW, allow);
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            headers.insert(header::RETRY_AFTER, seconds);
        }
        response
    }
}
