//! The HTTP front of the runner: turns a hyper request into the `lambda_http` request the functions
//! receive, holds it to the caller's rate limit, sends it to `ingest` or `report` as API Gateway would,
//! and turns the answer back.

use std::sync::Arc;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::response::Response;
use fluxo::handlers::{ApiState, ingest, report};
use fluxo::http::BODY_BYTES_MAX;
use fluxo::http::problem::ApiError;
use fluxo::http::route::route;
use lambda_http::RequestExt;
use lambda_http::aws_lambda_events::query_map::QueryMap;

use crate::limit::{Admission, Limits};

/// What the runner's front holds: the functions' state and the callers' buckets.
#[derive(Clone)]
pub struct Front {
    pub api: ApiState,
    pub limits: Arc<Limits>,
}

/// The runner's only route: every request goes to the function API Gateway would send it to.
pub async fn dispatch(State(Front { api, limits }): State<Front>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let query: QueryMap = parts.uri.query().unwrap_or_default().parse().unwrap_or_default();
    // A request id per request, as the Lambda runtime gives each invocation, so log lines correlate.
    let mut context = lambda_runtime::Context::default();
    context.request_id = uuid::Uuid::new_v4().to_string();
    let mut request = lambda_http::Request::from_parts(parts, lambda_http::Body::Empty)
        .with_query_string_parameters(query)
        .with_lambda_context(context);
    let matched = route(&request).ok();
    let limit = matched.as_ref().map_or(BODY_BYTES_MAX, |r| r.op().body_bytes_max());
    match read_body(body, limit).await {
        Ok(body) => *request.body_mut() = body,
        Err(refused) => return refused,
    }
    let limited = match limits.admit(&request, matched.as_ref()) {
        Admission::Refused(response) => return into_axum(response),
        Admission::Admitted(headers) => headers,
        Admission::Unmetered => http::HeaderMap::new(),
    };
    let to_ingest = matched.is_some_and(|r| r.op().is_ingest());
    let mut response =
        if to_ingest { ingest::handle(&api, request).await } else { report::handle(&api, request).await };
    response.headers_mut().extend(limited);
    into_axum(response)
}

/// Reads a body up to one byte past the route's `limit`, so the function can tell "too large" from
/// "exactly the limit"; past that, answers 413 without reading the rest.
async fn read_body(body: axum::body::Body, limit: usize) -> Result<lambda_http::Body, Response> {
    let Ok(bytes) = to_bytes(body, limit + 1).await else {
        // The rest of the body stays unread, so this connection cannot carry another request.
        let mut refused = into_axum(ApiError::TooLarge(limit).into_response());
        refused.headers_mut().insert(http::header::CONNECTION, http::HeaderValue::from_static("close"));
        return Err(refused);
    };
    Ok(match String::from_utf8(bytes.to_vec()) {
        Ok(text) if !text.is_empty() => lambda_http::Body::Text(text),
        Ok(_) => lambda_http::Body::Empty,
        Err(e) => lambda_http::Body::Binary(e.into_bytes()),
    })
}

fn into_axum(response: lambda_http::Response<lambda_http::Body>) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(text) => text.into_bytes(),
        lambda_http::Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
