//! The `report` function: accounts, entries and daily balances, read only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::StatusCode;
use jiff::civil::Date;
use lambda_http::{Body, Request, Response};

use super::{ApiState, health};
use crate::auth::Scope;
use crate::domain::account::AccountId;
use crate::domain::calendar::{DateRange, parse_date};
use crate::domain::entry::EntryId;
use crate::http::conditional::{Strength, answer, tag};
use crate::http::input::{query, wants_csv};
use crate::http::problem::{ApiError, FieldError};
use crate::http::route::{Param, Route};
use crate::views::{AccountView, DailyBalanceView, DayView, EntryPageView, EntryView, RangeView, range_csv, to_json};

/// The default and largest page of an entry listing.
const PAGE_DEFAULT: usize = 100;
const PAGE_MAX: usize = 500;

/// Handles one API request for the `report` function. Every outcome is a response: refusals are
/// problem+json, so the function itself never fails.
pub async fn handle(api: &ApiState, req: Request) -> Response<Body> {
    super::dispatch(&req, |req, route| perform(api, req, route)).await
}

async fn perform(api: &ApiState, req: &Request, route: Route) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Health => Ok(health()),
        Route::GetAccount { account } => {
            let account = api.caller(req, &account, Scope::Read)?;
            let found = api.ledger.account(&account).await?;
            Ok(ok_json(to_json(&AccountView::from(&found))?))
        }
        Route::GetEntry { account, entry } => {
            let account = api.caller(req, &account, Scope::Read)?;
            let entry = api.ledger.entry(&account, &entry.parse()?).await?;
            Ok(tagged(req, ok_json(to_json(&EntryView::from(&entry))?)))
        }
        Route::ListEntries { account } => list_entries(api, req, &account).await,
        Route::DailyBalance { account, date } => daily_balance(api, req, &account, &date).await,
        Route::BalanceRange { account } => balance_range(api, req, &account).await,
        _ => Err(ApiError::NotFound("route")),
    }
}

async fn list_entries(api: &ApiState, req: &Request, account: &Param<AccountId>) -> Result<Response<Body>, ApiError> {
    let account = api.caller(req, account, Scope::Read)?;
    let params = query(req);
    let date = date_param(params.first("date"), "date")?;
    let limit = match params.first("limit") {
        None => PAGE_DEFAULT,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=PAGE_MAX).contains(n))
            .ok_or_else(|| ApiError::Invalid(vec![FieldError::new("limit", "must be an integer from 1 to 500")]))?,
    };
    let after = params.first("cursor").map(|c| Cursor::decode(c, date)).transpose()?;
    let page = api.ledger.entries(&account, date, after, limit).await?;
    let view = EntryPageView {
        items: page.items.iter().map(EntryView::from).collect(),
        next_cursor: page.more_after.map(|id| Cursor::encode(date, id)),
    };
    Ok(tagged(req, ok_json(to_json(&view)?)))
}

async fn daily_balance(
    api: &ApiState,
    req: &Request,
    account: &Param<AccountId>,
    date: &Param<Date>,
) -> Result<Response<Body>, ApiError> {
    let account = api.caller(req, account, Scope::Read)?;
    let date = date.parse()?;
    let range = DateRange::new(date, date).map_err(|e| ApiError::BadRequest(e.0))?;
    let (account, days, as_of) = api.ledger.daily(&account, range).await?;
    let day = days.first().ok_or_else(|| ApiError::Internal("a one-day range produced no day".into()))?;
    let view = DailyBalanceView {
        account_id: account.id.as_str(),
        currency: account.currency.code(),
        day: DayView::from(day),
        as_of: as_of.to_string(),
    };
    let figures = tag(Strength::Weak, to_json(&(view.account_id, view.currency, &view.day))?.as_bytes());
    Ok(answer(req.headers(), figures, ok_json(to_json(&view)?)))
}

async fn balance_range(api: &ApiState, req: &Request, account: &Param<AccountId>) -> Result<Response<Body>, ApiError> {
    let account = api.caller(req, account, Scope::Read)?;
    let params = query(req);
    let from = date_param(params.first("from"), "from")?;
    let to = date_param(params.first("to"), "to")?;
    let range = DateRange::new(from, to).map_err(|e| ApiError::Invalid(vec![FieldError::new("to", e.0)]))?;
    let (account, days, as_of) = api.ledger.daily(&account, range).await?;
    if wants_csv(req.headers()) {
        let csv = crate::http::response(StatusCode::OK, "text/csv; charset=utf-8", range_csv(&days));
        return Ok(tagged(req, varies_by_accept(csv)));
    }
    let view = RangeView {
        account_id: account.id.as_str(),
        currency: account.currency.code(),
        from: from.to_string(),
        to: to.to_string(),
        days: days.iter().map(DayView::from).collect(),
        as_of: as_of.to_string(),
    };
    let figures = to_json(&(view.account_id, view.currency, &view.from, &view.to, &view.days))?;
    let figures = tag(Strength::Weak, figures.as_bytes());
    Ok(answer(req.headers(), figures, varies_by_accept(ok_json(to_json(&view)?))))
}

/// Tags a read by its own bytes and answers it conditionally.
fn tagged(req: &Request, response: Response<Body>) -> Response<Body> {
    let bytes: &[u8] = match response.body() {
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => &[],
    };
    let current = tag(Strength::Strong, bytes);
    answer(req.headers(), current, response)
}

/// A range is JSON or CSV by the request's `Accept`: caches keep the two apart.
fn varies_by_accept(mut response: Response<Body>) -> Response<Body> {
    response.headers_mut().insert(http::header::VARY, http::HeaderValue::from_static("Accept"));
    response
}

fn ok_json(body: String) -> Response<Body> {
    crate::http::json(StatusCode::OK, body)
}

/// A required date from the query string.
fn date_param(raw: Option<&str>, name: &str) -> Result<Date, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::BadRequest(format!("the `{name}` parameter (YYYY-MM-DD) is required")))?;
    parse_date(raw).map_err(|e| ApiError::BadRequest(format!("{name} {e}")))
}

/// The opaque page cursor: the listed date and the last id returned, so a cursor cannot be replayed
/// against another date.
struct Cursor;

impl Cursor {
    fn encode(date: Date, last: EntryId) -> String {
        URL_SAFE_NO_PAD.encode(format!("v1|{date}|{last}"))
    }

    fn decode(raw: &str, date: Date) -> Result<EntryId, ApiError> {
        let bad = || ApiError::BadRequest("the cursor is not valid for this listing".into());
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.split('|');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some("v1"), Some(d), Some(id), None) if d == date.to_string() => EntryId::parse(id).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }
}
