//! The `ingest` function: creates accounts and records entries and reversals, idempotently.

use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};

use super::{Api, health};
use crate::auth::Scope;
use crate::domain::account::{AccountName, Currency, Zone};
use crate::domain::calendar::parse_instant;
use crate::domain::entry::{Description, EntryType};
use crate::domain::money::Amount;
use crate::http::input::{Fields, idempotency_key, integer, json_object, text};
use crate::http::problem::ApiError;
use crate::http::route::{Op, Route};
use crate::ledger::{EntryRequest, Written};
use crate::ports::PutAccount;
use crate::views::{AccountView, to_json};

/// Handles one API request for the `ingest` function. Every outcome is a response: refusals are
/// problem+json, so the function itself never fails.
pub async fn respond(api: &Api, req: Request) -> Response<Body> {
    super::respond(&req, |req, route| serve(api, req, route)).await
}

async fn serve(api: &Api, req: &Request, route: Route) -> Result<Response<Body>, ApiError> {
    match route.op {
        Op::Health => Ok(health()),
        Op::PutAccount => put_account(api, req, &route).await,
        Op::RecordEntry => record_entry(api, req, &route).await,
        Op::ReverseEntry => reverse_entry(api, req, &route).await,
        _ => Err(ApiError::NotFound("route")),
    }
}

async fn put_account(api: &Api, req: &Request, route: &Route) -> Result<Response<Body>, ApiError> {
    let account = api.caller(req, route, Scope::Write)?;
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
    Ok(crate::http::json(status, to_json(&AccountView::from(&stored))))
}

async fn record_entry(api: &Api, req: &Request, route: &Route) -> Result<Response<Body>, ApiError> {
    let account = api.caller(req, route, Scope::Write)?;
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

async fn reverse_entry(api: &Api, req: &Request, route: &Route) -> Result<Response<Body>, ApiError> {
    let account = api.caller(req, route, Scope::Write)?;
    let entry = super::entry_id(&route.entry)?;
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
