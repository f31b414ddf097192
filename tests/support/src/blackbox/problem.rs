//! Assertions on refusals: every error is `application/problem+json` with `type`, `title`,
//! `status` and `detail`, names its invalid fields, and never leaks Rust debug text.

use serde_json::Value;

use super::client::Reply;

/// Fragments that only `Debug` output, panics or backend errors would put in a body.
const DEBUG_MARKERS: &[&str] =
    &["Error {", "Error(", "Some(", "None", "Ok(", "Err(", "Invalid(", "::", "panicked", "at line", "sqlite", ".rs:"];

/// Asserts a problem+json refusal with `status` and returns its body.
pub fn assert_problem(reply: &Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "unexpected status; body: {}", reply.text);
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(content_type.starts_with("application/problem+json"), "content type {content_type:?} for {}", reply.text);
    let body = reply.json();
    for member in ["type", "title", "detail"] {
        assert!(body[member].as_str().is_some_and(|s| !s.is_empty()), "problem without {member}: {body}");
    }
    assert_eq!(body["status"], status, "problem status member: {body}");
    for marker in DEBUG_MARKERS {
        assert!(!reply.text.contains(marker), "debug text {marker:?} in {}", reply.text);
    }
    body
}

/// Asserts a 422 whose `errors` name at least `fields`, each with a message.
pub fn assert_fields(reply: &Reply, fields: &[&str]) -> Value {
    let body = assert_problem(reply, 422);
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("422 without errors: {body}"));
    for error in errors {
        assert!(error["field"].is_string() && error["message"].is_string(), "malformed field error in {body}");
    }
    let named: Vec<&str> = errors.iter().filter_map(|e| e["field"].as_str()).collect();
    for field in fields {
        assert!(named.contains(field), "errors do not name {field:?}: {body}");
    }
    body
}
