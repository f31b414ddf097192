//! Conditional reads (RFC 9110, section 13): a read whose answer can still change carries an entity
//! tag and `Cache-Control: private, max-age=0, must-revalidate`, and a client that sends the current
//! tag back in `If-None-Match` is answered `304 Not Modified`, without the body.
//!
//! A tag is the digest of what the answer says. An entry or a page of entries is tagged by its own
//! bytes, a strong tag. A balance also says when it was read (`as_of`), which changes on every read
//! while the figures do not: it is tagged by everything but `as_of`, a weak tag ("the same figures"),
//! which is what `If-None-Match` compares anyway.

use headers::{ETag, HeaderMapExt, IfNoneMatch};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::{Body, Response};
use sha2::{Digest, Sha256};

/// How a read that can still change may be kept: by the caller alone, and checked before each use.
pub const REVALIDATE: &str = "private, max-age=0, must-revalidate";

/// Whether a tag vouches for the answer's bytes or only for what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strength {
    /// The representation's own bytes.
    Strong,
    /// The figures, without the instant they were read.
    Weak,
}

/// The entity tag of `content`: the first 128 bits of its SHA-256, in hex. (Always `Some`: parsing
/// is the only way the `headers` crate builds a tag, and hex digits between quotes always parse.)
pub fn tag(strength: Strength, content: &[u8]) -> Option<ETag> {
    let hex = crate::domain::hex(&Sha256::digest(content)[..16]);
    let text = match strength {
        Strength::Strong => format!("\"{hex}\""),
        Strength::Weak => format!("W/\"{hex}\""),
    };
    text.parse().ok()
}

/// Answers a read: `304 Not Modified` when `request` holds `tag` in `If-None-Match`, else `response`;
/// either way with the tag and [`REVALIDATE`] (and `response`'s `Vary`, which a 304 repeats).
pub fn answer(request: &HeaderMap, tag: Option<ETag>, response: Response<Body>) -> Response<Body> {
    let held = request.typed_get::<IfNoneMatch>();
    let current = tag.as_ref().is_some_and(|t| held.is_some_and(|held| !held.precondition_passes(t)));
    let mut answer = if current { not_modified(&response) } else { response };
    if let Some(tag) = tag {
        answer.headers_mut().typed_insert(tag);
    }
    answer.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    answer
}

fn not_modified(full: &Response<Body>) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NOT_MODIFIED;
    if let Some(vary) = full.headers().get(header::VARY) {
        response.headers_mut().insert(header::VARY, vary.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Response<Body> {
        let mut response = crate::http::json(StatusCode::OK, "{}".into());
        response.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
        response
    }

    /// A tag as its header sends it.
    fn text(tag: &ETag) -> String {
        let mut headers = HeaderMap::new();
        headers.typed_insert(tag.clone());
        headers[header::ETAG].to_str().expect("ascii").to_owned()
    }

    fn holding(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).expect("header"));
        headers
    }

    #[test]
    fn tags_are_quoted_hex_digests_and_weak_ones_say_so() {
        let strong = tag(Strength::Strong, b"figures").map(|t| text(&t)).expect("tag");
        let weak = tag(Strength::Weak, b"figures").map(|t| text(&t)).expect("tag");
        assert_eq!((strong.len(), strong.starts_with('"')), (34, true), "{strong}");
        assert_eq!(weak, format!("W/{strong}"));
        assert_ne!(tag(Strength::Strong, b"other figures").map(|t| text(&t)).expect("tag"), strong);
    }

    #[test]
    fn a_read_without_a_held_tag_or_with_another_is_answered_in_full_with_its_tag() {
        let current = tag(Strength::Strong, b"now").expect("tag");
        let before = tag(Strength::Strong, b"before").map(|t| text(&t)).expect("tag");
        for request in [HeaderMap::new(), holding(&before), holding("garbage")] {
            let response = answer(&request, Some(current.clone()), ok());
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()[header::ETAG], text(&current).as_str());
            assert_eq!(response.headers()[header::CACHE_CONTROL], REVALIDATE);
        }
    }

    #[test]
    fn a_read_holding_the_current_tag_among_others_or_weakly_is_304_without_a_body() {
        let current = tag(Strength::Weak, b"now").expect("tag");
        let bare = text(&current).trim_start_matches("W/").to_owned();
        let held = [text(&current), format!("\"x\", {bare}"), "*".to_owned()];
        for value in held {
            let response = answer(&holding(&value), Some(current.clone()), ok());
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{value}");
            assert!(matches!(response.body(), Body::Empty));
            assert_eq!(response.headers()[header::ETAG], text(&current).as_str());
            assert_eq!(response.headers()[header::CACHE_CONTROL], REVALIDATE);
            assert_eq!(response.headers()[header::VARY], "Accept");
            assert!(response.headers().get(header::CONTENT_TYPE).is_none());
        }
    }
}
