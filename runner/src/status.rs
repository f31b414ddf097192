//! The runner's read-only status: `GET /status` answers operational numbers as JSON (whether
//! consolidation runs, the queue and dead-letter depths, the lag of the last consolidated batch) and
//! `GET /` serves a page that shows them beside the balances of a token's accounts.
//!
//! Neither route needs a token: `/status` exposes no ledger data, and the page reads balances from the
//! v1 API with the token the viewer gives it, in the browser.

use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use fluxo::http::problem::ApiError;
use fluxo::ports::{Delivery, Inbox};
use http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS};
use jiff::Timestamp;
use serde_json::json;

/// The status page: plain HTML with its own inline style and script, no external assets.
const PAGE: &str = include_str!("status.html");

/// Only the page's own inline script and style run; it may call back only to this origin.
const PAGE_POLICY: &str = "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'; \
     img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The consolidation lag of the last batch the consumer processed, shared with `/status`.
#[derive(Debug, Clone, Default)]
pub struct LastBatch(Arc<Mutex<Option<Batch>>>);

/// One processed batch: how long its oldest message waited, and when it was done.
#[derive(Debug, Clone, Copy)]
struct Batch {
    lag_ms: i64,
    at: Timestamp,
}

impl LastBatch {
    /// Records a processed batch: its lag is now minus the oldest `sent_ms` among `deliveries`.
    /// An empty batch records nothing.
    pub fn record(&self, deliveries: &[Delivery]) {
        let Some(oldest_ms) = deliveries.iter().map(|d| d.sent_ms).min() else { return };
        let now = Timestamp::now();
        let at = now.round(jiff::Unit::Millisecond).unwrap_or(now);
        let lag_ms = now.as_millisecond().saturating_sub(oldest_ms).max(0);
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Batch { lag_ms, at });
    }

    fn read(&self) -> Option<Batch> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What `/status` reads: the queue, whether the consumer runs, and what it last recorded.
#[derive(Clone)]
pub struct Status {
    /// The queue `consolidate` is fed from, for its depths.
    pub inbox: Arc<dyn Inbox>,
    /// Whether this runner consumes the queue (`--consolidation on`).
    pub consolidation: bool,
    /// What the consumer recorded after its last batch.
    pub last: LastBatch,
}

/// What `/ready` asks: the ledger's store and the queue.
#[derive(Clone)]
pub struct Ready {
    pub ledger: fluxo::ledger::Ledger,
    pub inbox: Arc<dyn Inbox>,
}

/// How long `/ready` waits for each answer: well under a load balancer's or orchestrator's probe
/// timeout, and long enough for a store under load.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// `GET /ready`: 200 `{"status":"ready","checks":{"store":"ok","queue":"ok"}}` when the store and the
/// queue answer within [`READY_WITHIN`]; 503 with the same shape naming the check that failed
/// (`unavailable` or `timeout`) otherwise. No token: it exposes no ledger data.
pub async fn ready(State(deps): State<Ready>) -> Response {
    let readiness = fluxo::readiness::check(&deps.ledger, deps.inbox.as_ref(), READY_WITHIN).await;
    let status = if readiness.ready() { http::StatusCode::OK } else { http::StatusCode::SERVICE_UNAVAILABLE };
    (status, [(CONTENT_TYPE, "application/json"), (CACHE_CONTROL, "no-store")], readiness.to_json()).into_response()
}

/// `GET /status`: `{"consolidation","queue":{"visible","in_flight","dead"},"lag_ms","last_batch_at"}`;
/// 503 problem+json when the queue does not answer.
pub async fn report(State(status): State<Status>) -> Response {
    let depths = match status.inbox.depths().await {
        Ok(depths) => depths,
        Err(error) => return problem(ApiError::Unavailable(error.to_string())),
    };
    let last = status.last.read();
    let body = json!({
        "consolidation": if status.consolidation { "on" } else { "off" },
        "queue": {"visible": depths.visible, "in_flight": depths.in_flight, "dead": depths.dead},
        "lag_ms": last.map(|b| b.lag_ms),
        "last_batch_at": last.map(|b| b.at.to_string()),
    });
    ([(CONTENT_TYPE, "application/json"), (CACHE_CONTROL, "no-store")], body.to_string()).into_response()
}

/// `GET /`: the status page, under a strict content security policy.
pub async fn page() -> Response {
    let headers = [
        (CONTENT_TYPE, "text/html; charset=utf-8"),
        (CONTENT_SECURITY_POLICY, PAGE_POLICY),
        (CACHE_CONTROL, "no-store"),
        (X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (REFERRER_POLICY, "no-referrer"),
    ];
    (headers, PAGE).into_response()
}

/// Any method but GET (and HEAD) on `/` or `/status`: a 405 problem, as the v1 routes answer.
pub async fn not_allowed() -> Response {
    problem(ApiError::MethodNotAllowed("GET"))
}

/// The v1 problem+json rendering of `error`, as an axum response.
fn problem(error: ApiError) -> Response {
    let (parts, body) = error.into_response().into_parts();
    let bytes = match body {
        lambda_http::Body::Text(text) => text.into_bytes(),
        lambda_http::Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    Response::from_parts(parts, axum::body::Body::from(bytes))
}
