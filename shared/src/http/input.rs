//! Parsing requests: headers, query strings, and JSON bodies read strictly (one object, no duplicate
//! or unknown fields, integers for money) with every invalid field reported at once.

use std::fmt;

use http::{HeaderMap, header};
use lambda_http::aws_lambda_events::query_map::QueryMap;
use lambda_http::{Request, RequestExt};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::problem::{ApiError, FieldError};
use super::{BATCH_BODY_BYTES_MAX, BODY_BYTES_MAX};
use crate::domain::Invalid;
use crate::domain::idempotency::IdempotencyKey;

/// The `Idempotency-Key` header, required on every write.
///
/// # Errors
/// 400 when missing or invalid.
pub fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, ApiError> {
    let raw = headers
        .get("idempotency-key")
        .ok_or_else(|| ApiError::BadRequest("the Idempotency-Key header is required".into()))?;
    let text = raw.to_str().map_err(|_| ApiError::BadRequest("Idempotency-Key must be printable ASCII".into()))?;
    IdempotencyKey::parse(text).map_err(|e| ApiError::BadRequest(e.0))
}

/// The query string parameters, from the event when API Gateway parsed them, else from the URI.
pub fn query(req: &Request) -> QueryMap {
    match req.query_string_parameters_ref() {
        Some(map) if !map.is_empty() => map.clone(),
        _ => req.uri().query().unwrap_or_default().parse().unwrap_or_default(),
    }
}

/// Whether the client asked for CSV.
pub fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("text/csv"))
}

/// The JSON object in the body, or `None` for an empty body.
///
/// # Errors
/// 413 over 16 KiB, 415 without a JSON content type, 400 for malformed JSON, 422 for a body that is
/// not an object or repeats a field.
pub fn json_object(req: &Request) -> Result<Option<Fields>, ApiError> {
    json_body(req, BODY_BYTES_MAX)?.map(|body| strict_object(body, "body")).transpose()
}

/// The elements of a batch body, `{"entries":[...]}`, each read as [`json_object`] reads a body:
/// one item per element, in order, holding its fields or why it is not a well-formed object (for
/// that entry alone, with its problems named as in a single entry's body).
///
/// # Errors
/// 413 over 256 KiB, 415 without a JSON content type, 400 for malformed JSON, 422 for a body that
/// is not an object with exactly one member, `entries`, holding an array.
pub fn json_batch(req: &Request) -> Result<Vec<Result<Fields, ApiError>>, ApiError> {
    let invalid = |field: &str, message: &str| ApiError::Invalid(vec![FieldError::new(field, message)]);
    let Some(body) = json_body(req, BATCH_BODY_BYTES_MAX)? else { return Err(invalid("entries", "is required")) };
    let envelope: BatchEnvelope<'_> = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => match e.to_string() {
            msg if msg.starts_with("duplicate field") => invalid("entries", "appears more than once"),
            msg if msg.starts_with("unknown field") => {
                invalid(&quoted_name(&msg, "unknown field `", "`, expected"), "is not a known field")
            }
            _ => invalid("body", "must be a JSON object"),
        },
        _ => ApiError::BadRequest("the body is not well-formed JSON".into()),
    })?;
    let entries =
        envelope.entries.filter(|raw| raw.get() != "null").ok_or_else(|| invalid("entries", "is required"))?;
    let elements: Vec<&serde_json::value::RawValue> =
        serde_json::from_str(entries.get()).map_err(|_| invalid("entries", "must be an array"))?;
    Ok(elements.into_iter().map(|element| strict_object(element.get().as_bytes(), "entry")).collect())
}

/// The body of a request when it is JSON within `limit` bytes, or `None` when it is empty.
fn json_body(req: &Request, limit: usize) -> Result<Option<&[u8]>, ApiError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > limit {
        return Err(ApiError::TooLarge(limit));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType);
    }
    Ok(Some(body))
}

/// One JSON object, read strictly; `whole` names it in problems (`body`, or `entry` in a batch).
fn strict_object(json: &[u8], whole: &str) -> Result<Fields, ApiError> {
    let object: StrictObject = serde_json::from_slice(json).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => match e.to_string() {
            msg if msg.starts_with("duplicate field") => ApiError::Invalid(vec![FieldError::new(
                quoted_name(&msg, "duplicate field `", "`"),
                "appears more than once",
            )]),
            _ => ApiError::Invalid(vec![FieldError::new(whole, "must be a JSON object")]),
        },
        // Well-formed JSON holding a number no float can hold (such as 1e400): an out-of-range value,
        // which serde_json reports as a syntax error without naming the member.
        serde_json::error::Category::Syntax if e.to_string().starts_with("number out of range") => {
            ApiError::Invalid(vec![FieldError::new(whole, "holds a number out of range")])
        }
        _ => ApiError::BadRequest("the body is not well-formed JSON".into()),
    })?;
    Ok(Fields { entries: object.0, errors: Vec::new() })
}

/// The member name serde_json quotes in an error such as `duplicate field `{name}` at line L column
/// C`: after `prefix`, up to the last `suffix` (a name may itself hold backticks).
fn quoted_name(message: &str, prefix: &str, suffix: &str) -> String {
    let name = message.strip_prefix(prefix).and_then(|rest| rest.rsplit_once(suffix)).map(|(name, _)| name);
    name.unwrap_or("body").to_owned()
}

/// A batch body: one JSON object (never the array serde would also take for a struct) whose only
/// member is `entries`, kept unparsed. Unknown and repeated members are refused.
struct BatchEnvelope<'a> {
    entries: Option<&'a serde_json::value::RawValue>,
}

impl<'de> serde::Deserialize<'de> for BatchEnvelope<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EnvelopeVisitor;
        impl<'de> Visitor<'de> for EnvelopeVisitor {
            type Value = BatchEnvelope<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BatchEnvelope<'de>, A::Error> {
                let mut entries = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "entries" {
                        return Err(de::Error::custom(format_args!("unknown field `{key}`, expected `entries`")));
                    }
                    if entries.is_some() {
                        return Err(de::Error::custom("duplicate field `entries`"));
                    }
                    entries = Some(map.next_value()?);
                }
                Ok(BatchEnvelope { entries })
            }
        }
        deserializer.deserialize_map(EnvelopeVisitor)
    }
}

/// A JSON object read with duplicate keys refused (serde_json would keep the last silently).
struct StrictObject(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for StrictObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = StrictObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictObject, A::Error> {
                let mut entries: Vec<(String, Value)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
                    }
                    entries.push((key, value));
                }
                Ok(StrictObject(entries))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// The fields of a JSON object, taken one by one; problems accumulate until [`Fields::finish`].
#[derive(Debug, Default)]
pub struct Fields {
    entries: Vec<(String, Value)>,
    errors: Vec<FieldError>,
}

impl Fields {
    /// Takes a field; absent and `null` are both `None`.
    fn take(&mut self, name: &str) -> Option<Value> {
        let at = self.entries.iter().position(|(k, _)| k == name)?;
        Some(self.entries.swap_remove(at).1).filter(|v| !v.is_null())
    }

    /// Takes a field that must be present, parsed by `parse`.
    pub fn required<T>(&mut self, name: &str, parse: impl FnOnce(&Value) -> Result<T, Invalid>) -> Option<T> {
        match self.take(name) {
            None => {
                self.errors.push(FieldError::new(name, "is required"));
                None
            }
            Some(value) => self.parsed(name, parse(&value)),
        }
    }

    /// Takes a field that may be absent, parsed by `parse` when present.
    pub fn optional<T>(&mut self, name: &str, parse: impl FnOnce(&Value) -> Result<T, Invalid>) -> Option<T> {
        let value = self.take(name)?;
        self.parsed(name, parse(&value))
    }

    fn parsed<T>(&mut self, name: &str, result: Result<T, Invalid>) -> Option<T> {
        result.map_err(|e| self.errors.push(FieldError::new(name, e.0))).ok()
    }

    /// Ends parsing: any field not taken is unknown.
    ///
    /// # Errors
    /// 422 with every problem found.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let unknown = self.entries.drain(..).map(|(k, _)| FieldError::new(k, "is not a known field"));
        self.errors.extend(unknown);
        if self.errors.is_empty() { Ok(()) } else { Err(ApiError::Invalid(self.errors)) }
    }
}

/// Parses a JSON string with a domain parser.
pub fn text<T>(parse: impl FnOnce(&str) -> Result<T, Invalid>) -> impl FnOnce(&Value) -> Result<T, Invalid> {
    move |value| match value {
        Value::String(s) => parse(s),
        _ => Err(Invalid::new("must be a string")),
    }
}

/// Parses a JSON integer with a domain parser. Fractions and exponents are refused, not rounded.
pub fn integer<T>(parse: impl FnOnce(i64) -> Result<T, Invalid>) -> impl FnOnce(&Value) -> Result<T, Invalid> {
    move |value| match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => {
            n.as_i64().map_or_else(|| Err(Invalid::new("is out of range")), parse)
        }
        Value::Number(_) => Err(Invalid::new("must be an integer number of minor units")),
        _ => Err(Invalid::new("must be an integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(body: &str, content_type: &str) -> Request {
        let mut r = Request::new(lambda_http::Body::Text(body.into()));
        r.headers_mut().insert(header::CONTENT_TYPE, content_type.parse().expect("header"));
        r
    }

    #[test]
    fn duplicate_keys_are_refused_by_name() {
        let err = json_object(&post(r#"{"amount":1,"amount":2}"#, "application/json")).expect_err("duplicate");
        assert!(matches!(err, ApiError::Invalid(ref e) if e[0].field == "amount"), "{err:?}");
        let err = json_object(&post(r#"{"a`b":1,"a`b":2}"#, "application/json")).expect_err("duplicate");
        assert!(matches!(err, ApiError::Invalid(ref e) if e[0].field == "a`b"), "{err:?}");
    }

    #[test]
    fn shape_and_media_type_errors_have_their_statuses() {
        assert!(matches!(json_object(&post("{", "application/json")), Err(ApiError::BadRequest(_))));
        assert!(matches!(json_object(&post("[1]", "application/json")), Err(ApiError::Invalid(_))));
        assert!(matches!(json_object(&post("{}", "text/plain")), Err(ApiError::UnsupportedMediaType)));
        assert!(matches!(
            json_object(&post(&" ".repeat(BODY_BYTES_MAX + 1), "application/json")),
            Err(ApiError::TooLarge(_))
        ));
        assert!(json_object(&post("{}", "application/json; charset=utf-8")).is_ok());
    }

    fn refused_field(result: Result<impl fmt::Debug, ApiError>) -> String {
        match result {
            Err(ApiError::Invalid(errors)) => errors[0].field.clone(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn a_batch_body_is_one_object_holding_only_an_array_of_entries() {
        let batch = |body: &str| json_batch(&post(body, "application/json"));
        // serde would read a struct from an array too: `[[...]]` must not pass for `{"entries":[...]}`.
        assert_eq!(refused_field(batch(r#"[[{"type":"credit"}]]"#)), "body");
        assert_eq!(refused_field(batch(r#"{"entries":[],"x":1}"#)), "x");
        assert_eq!(refused_field(batch(r#"{"entries":[1],"entries":[2]}"#)), "entries");
        assert_eq!(refused_field(batch(r#"{"entries":{"a":1}}"#)), "entries");
        assert_eq!(refused_field(batch(r#"{"entries":null}"#)), "entries");
        assert!(matches!(batch(r#"{"entries":[1,"#), Err(ApiError::BadRequest(_))));
        let elements = batch(r#"{"entries":[{"a":1},5,{"b":1,"b":2}]}"#).expect("a batch");
        assert_eq!(elements.len(), 3);
        assert!(elements[0].is_ok());
        let mut elements = elements.into_iter().skip(1);
        assert_eq!(refused_field(elements.next().expect("second")), "entry");
        assert_eq!(refused_field(elements.next().expect("third")), "b");
    }

    #[test]
    fn numbers_beyond_any_float_are_out_of_range_values_not_malformed_json() {
        let huge = format!(r#"{{"amount":1{}}}"#, "0".repeat(400));
        for body in [r#"{"amount":1e400}"#, r#"{"amount":-1e400}"#, huge.as_str()] {
            let err = json_object(&post(body, "application/json")).expect_err("out of range");
            assert!(matches!(err, ApiError::Invalid(ref e) if e[0].field == "body"), "{body}: {err:?}");
        }
        assert!(matches!(json_object(&post(r#"{"amount":1e}"#, "application/json")), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn integers_refuse_fractions_and_strings() {
        let parse = |v: Value| integer(Ok)(&v);
        assert_eq!(parse(serde_json::json!(12)), Ok(12));
        assert!(parse(serde_json::json!(1.5)).is_err());
        assert!(parse(serde_json::json!(1e3)).is_err());
        assert!(parse(serde_json::json!("12")).is_err());
        assert!(parse(serde_json::json!(u64::MAX)).is_err());
    }

    #[test]
    fn unknown_and_missing_fields_are_all_reported() {
        let mut fields = json_object(&post(r#"{"extra":1}"#, "application/json")).expect("parsed").expect("object");
        let _ = fields.required("type", text(|s| Ok(s.to_owned())));
        let Err(ApiError::Invalid(errors)) = fields.finish() else { panic!("expected field errors") };
        let names: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(names, ["type", "extra"]);
    }
}
