//! The `ingest` function: creates accounts and records entries and reversals, idempotently.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde_json::value::RawValue;

use super::{ApiState, health};
use crate::auth::Scope;
use crate::domain::account::{AccountId, AccountName, Currency, Zone};
use crate::domain::batch;
use crate::domain::calendar::parse_instant;
use crate::domain::entry::{Description, EntryId, EntryType};
use crate::domain::idempotency::IdempotencyKey;
use crate::domain::money::Amount;
use crate::http::input::{Fields, idempotency_key, integer, json_batch, json_object, text};
use crate::http::problem::{ApiError, Problem};
use crate::http::route::{Param, Route};
use crate::ledger::{EntryRequest, Written};
use crate::ports::PutAccount;
use crate::views::{AccountView, RenderError, to_json};

/// Handles one API request for the `ingest` function. Every outcome is a response: refusals are
/// problem+json, so the function itself never fails.
pub async fn handle(api: &ApiState, req: Request) -> Response<Body> {
    super::dispatch(&req, |req, route| perform(api, req, route)).await
}

async fn perform(api: &ApiState, req: &Request, route: Route) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Health => Ok(health()),
        Route::PutAccount { account } => put_account(api, req, &account).await,
        Route::RecordEntry { account } => record_entry(api, req, &account).await,
        Route::RecordBatch { account } => record_batch(api, req, &account).await,
        Route::ReverseEntry { account, entry } => reverse_entry(api, req, &account, &entry).await,
        _ => Err(ApiError::NotFound("route")),
    }
}

async fn put_account(api: &ApiState, req: &Request, account: &Param<AccountId>) -> Result<Response<Body>, ApiError> {
    let account = api.caller(req, account, Scope::Write)?;
    let mut body = json_object(req)?.unwrap_or_default();
    let name = body.required("name", text(AccountName::parse));
    let currency = body.required("currency", text(Currency::parse));
    let zone = body.required("timezone", text(Zone::parse));
    body.finish()?;
    let (Some(name), Some(currency), Some(zone)) = (name, currency, zone) else {
        return Err(ApiError::Internal("field parsing reported no error for a missing field".into()));
    };
    let (status, stored) = match api.ledger.put_account(account, name, currency, zone).await? {
        PutAccount::Created(a) => (StatusCode::CREATED, a),
        PutAccount::Unchanged(a) | PutAccount::Renamed(a) | PutAccount::Conflict(a) => (StatusCode::OK, a),
    };
    Ok(crate::http::json(status, to_json(&AccountView::from(&stored))?))
}

async fn record_entry(api: &ApiState, req: &Request, account: &Param<AccountId>) -> Result<Response<Body>, ApiError> {
    let account = api.caller(req, account, Scope::Write)?;
    let key = idempotency_key(req.headers())?;
    let request = entry_request(json_object(req)?.unwrap_or_default())?;
    let written = api.ledger.record_entry(&account, key, request).await?;
    Ok(written_response(written))
}

fn entry_request(mut body: Fields) -> Result<EntryRequest, ApiError> {
    let kind = body.required("type", text(EntryType::parse));
    let amount = body.required("amount", integer(Amount::from_minor));
    let description = body.optional("description", text(Description::parse));
    let occurred_at = body.optional("occurred_at", text(parse_instant));
    let currency = body.optional("currency", text(Currency::parse));
    body.finish()?;
    let (Some(kind), Some(amount)) = (kind, amount) else {
        return Err(ApiError::Internal("field parsing reported no error for a missing field".into()));
    };
    Ok(EntryRequest { kind, amount, description, occurred_at, currency })
}

/// `POST .../entries/batch`: each entry recorded as a single one would be, answered in order. The
/// envelope's problems (and keys repeated within the batch) refuse the whole batch, with nothing
/// written; an entry's own problems refuse that entry alone.
async fn record_batch(api: &ApiState, req: &Request, account: &Param<AccountId>) -> Result<Response<Body>, ApiError> {
    let account = api.caller(req, account, Scope::Write)?;
    let items: Vec<BatchItem> = json_batch(req)?.into_iter().map(batch_item).collect();
    batch::check(items.iter().map(|item| match item {
        Ok((key, _)) => Some(key),
        Err((key, _)) => key.as_ref(),
    }))?;
    let mut valid = Vec::with_capacity(items.len());
    let refused: Vec<Option<ApiError>> = items
        .into_iter()
        .map(|item| match item {
            Ok(parsed) => {
                valid.push(parsed);
                None
            }
            Err((_, problem)) => Some(problem),
        })
        .collect();
    let mut written =
        if valid.is_empty() { Vec::new() } else { api.ledger.record_batch(&account, valid).await? }.into_iter();
    let results = refused.into_iter().map(|refused| match refused {
        Some(problem) => Err(problem),
        None => written
            .next()
            .ok_or_else(|| ApiError::Internal("the ledger answered fewer outcomes than entries".into()))?
            .map_err(ApiError::from),
    });
    Ok(crate::http::json(StatusCode::OK, batch_results(results)?))
}

/// One element of a batch: its key and request, or why it is refused (with its key, when that could
/// be read, for the check that keys are not repeated).
type BatchItem = Result<(IdempotencyKey, EntryRequest), (Option<IdempotencyKey>, ApiError)>;

fn batch_item(element: Result<Fields, ApiError>) -> BatchItem {
    let mut fields = element.map_err(|problem| (None, problem))?;
    let key = fields.required("idempotency_key", text(IdempotencyKey::parse));
    match (key, entry_request(fields)) {
        (Some(key), Ok(request)) => Ok((key, request)),
        (key, Err(problem)) => Err((key, problem)),
        (None, Ok(_)) => Err((None, ApiError::Internal("field parsing reported no error for a missing key".into()))),
    }
}

/// `{"results":[...]}`: per entry, its status with the entry, or its status with the problem.
fn batch_results(results: impl Iterator<Item = Result<Written, ApiError>>) -> Result<String, RenderError> {
    #[derive(serde::Serialize)]
    struct Results {
        results: Vec<BatchResult>,
    }
    to_json(&Results { results: results.map(BatchResult::from).collect() })
}

#[derive(serde::Serialize)]
struct BatchResult {
    status: u16,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    replayed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    entry: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<Problem>,
}

impl From<Result<Written, ApiError>> for BatchResult {
    fn from(outcome: Result<Written, ApiError>) -> Self {
        let recorded = outcome.and_then(|written| {
            let entry = RawValue::from_string(written.response.body)
                .map_err(|e| ApiError::Internal(format!("a stored response is not JSON: {e}")))?;
            Ok((written.replayed, entry))
        });
        match recorded {
            Ok((replayed, entry)) => {
                let status = if replayed { 200 } else { 201 };
                Self { status, replayed, entry: Some(entry), problem: None }
            }
            Err(refused) => {
                let problem = refused.into_problem();
                Self { status: problem.status(), replayed: false, entry: None, problem: Some(problem) }
            }
        }
    }
}

async fn reverse_entry(
    api: &ApiState,
    req: &Request,
    account: &Param<AccountId>,
    entry: &Param<EntryId>,
) -> Result<Response<Body>, ApiError> {
    let account = api.caller(req, account, Scope::Write)?;
    let entry = entry.parse()?;
    let key = idempotency_key(req.headers())?;
    let mut body = json_object(req)?.unwrap_or_default();
    let description = body.optional("description", text(Description::parse));
    body.finish()?;
    let written = api.ledger.reverse_entry(&account, &entry, key, description).await?;
    Ok(written_response(written))
}

/// 201 with `Location` for a new entry; 200 with `Idempotent-Replayed: true` for a replay.
fn written_response(written: Written) -> Response<Body> {
    let status = if written.replayed { StatusCode::OK } else { StatusCode::CREATED };
    let mut response = crate::http::json(status, written.response.body);
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&written.response.location) {
        headers.insert(header::LOCATION, location);
    }
    if written.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}
