//! The contract, served by `fluxo serve`: `GET /openapi.yaml` is `docs/openapi.yaml` as built into
//! the binary, and `GET /docs` a page that renders it with Redoc, whose standalone bundle is built in
//! too (`runner/assets/redoc/`, with its license) and served at `/docs/redoc.standalone.js`. Nothing
//! is fetched from elsewhere; no token is needed, the document holds no ledger data.

use axum::response::{IntoResponse, Response};
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};

/// The v1 contract.
const OPENAPI: &str = include_str!("../../docs/openapi.yaml");
/// Redoc 2.5.4's standalone bundle (`runner/assets/redoc/README.md`).
const REDOC: &[u8] = include_bytes!("../assets/redoc/redoc.standalone.js");
/// The page: a `<redoc spec-url>` element and the bundle, no inline script.
const PAGE: &str = include_str!("docs.html");

/// Scripts from this origin only; Redoc injects its styles inline and runs its search in a worker
/// made from a `blob:` URL.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self'; worker-src 'self' blob:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// `GET /openapi.yaml`.
pub async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/yaml"), (CACHE_CONTROL, "no-cache")], OPENAPI).into_response()
}

/// `GET /docs`.
pub async fn page() -> Response {
    let headers = [
        (CONTENT_TYPE, "text/html; charset=utf-8"),
        (CACHE_CONTROL, "no-cache"),
        (CONTENT_SECURITY_POLICY, PAGE_POLICY),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "no-referrer"),
    ];
    (headers, PAGE).into_response()
}

/// `GET /docs/redoc.standalone.js`: the same bytes for the life of the binary.
pub async fn redoc() -> Response {
    let headers = [
        (CONTENT_TYPE, "text/javascript; charset=utf-8"),
        (CACHE_CONTROL, "public, max-age=3600"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    (headers, REDOC).into_response()
}
