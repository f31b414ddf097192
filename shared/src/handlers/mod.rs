//! The handlers the functions run: each parses its event, calls one [`Ledger`] use case and renders
//! the result. The local runner calls these same functions.
//!
//! - [`ingest`]: account writes, entries and reversals (API Gateway).
//! - [`report`]: accounts, entries and daily balances (API Gateway).
//! - [`consolidate`]: SQS batches of postings, with partial batch failures.
//! - [`relay`]: new entries from the table's stream (or the embedded outbox) to the queue, and the
//!   scheduled reconciliation.

pub mod consolidate;
pub mod ingest;
pub mod relay;
pub mod report;

use std::future::Future;

use http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::auth::{Authenticator, Scope};
use crate::domain::account::AccountId;
use crate::http::problem::ApiError;
use crate::http::route::{Param, Route, route};
use crate::ledger::Ledger;

/// What the HTTP functions share across requests: the ledger and a way to authenticate callers.
#[derive(Clone)]
pub struct ApiState {
    pub ledger: Ledger,
    pub auth: Authenticator,
}

impl ApiState {
    /// Authenticates the caller, parses the route's account id and checks the caller may use it.
    ///
    /// # Errors
    /// 401 without valid credentials, 400 for a malformed account id, 403 without the grant.
    pub fn caller(&self, req: &Request, account: &Param<AccountId>, scope: Scope) -> Result<AccountId, ApiError> {
        let principal = self.auth.authenticate(req.headers(), req.request_context_ref())?;
        let account = account.parse()?;
        principal.authorize(&account, scope)?;
        Ok(account)
    }
}

/// Routes a request, runs `perform` on its route, and turns any refusal into problem+json. Logs one
/// line per request with its outcome; never the body or the credentials.
pub(crate) async fn dispatch<'a, F, Fut>(req: &'a Request, perform: F) -> Response<Body>
where
    F: FnOnce(&'a Request, Route) -> Fut,
    Fut: Future<Output = Result<Response<Body>, ApiError>> + 'a,
{
    let started = std::time::Instant::now();
    let matched = route(req);
    let op = matched.as_ref().map(|r| format!("{:?}", r.op())).unwrap_or_default();
    let account = matched.as_ref().ok().and_then(Route::account).map(|a| a.raw().to_owned()).unwrap_or_default();
    let response = match matched {
        Ok(route) => perform(req, route).await,
        Err(e) => Err(e),
    }
    .unwrap_or_else(ApiError::into_response);
    let request_id = req.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
    // A recorded entry's id is the last segment of its Location: the one line that follows it from
    // ingest to the balance it moves, without a line of its own.
    let location = response.headers().get(http::header::LOCATION).and_then(|v| v.to_str().ok());
    let entry_id = location.and_then(|l| l.rsplit('/').next()).unwrap_or_default();
    tracing::info!(
        %request_id,
        method = %req.method(),
        op,
        account_id = %account,
        entry_id,
        status = response.status().as_u16(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

/// `GET /health`.
pub(crate) fn health() -> Response<Body> {
    crate::http::json(StatusCode::OK, r#"{"status":"ok"}"#.to_owned())
}
