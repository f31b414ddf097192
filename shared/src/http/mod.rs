//! The HTTP edge shared by the `ingest` and `report` functions and the local runner.
//!
//! - [`route`]: which operation a method and path name, after stripping an API Gateway stage.
//! - [`input`]: headers, query strings and strict JSON bodies parsed into domain types.
//! - [`problem`]: every refusal as `application/problem+json`, in one place.
//! - [`conditional`]: entity tags and `304 Not Modified` for reads that can still change.

pub mod conditional;
pub mod input;
pub mod problem;
pub mod route;

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};

/// The largest request body accepted, in bytes, on every route but the batch's.
pub const BODY_BYTES_MAX: usize = 16 * 1024;

/// The largest batch body accepted, in bytes: 500 entries of about 500 bytes each.
pub const BATCH_BODY_BYTES_MAX: usize = 256 * 1024;

/// A JSON response.
pub fn json(status: StatusCode, body: String) -> Response<Body> {
    response(status, "application/json", body)
}

/// A response with a body of the given content type.
pub fn response(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
