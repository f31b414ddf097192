//! The JSON shapes of the v1 contract. Handlers and the ledger render through these, so a stored
//! idempotent response and a fresh read of the same entry look alike.

use jiff::civil::Date;
use serde::Serialize;

use crate::domain::account::Account;
use crate::domain::balance::DailyBalance;
use crate::domain::entry::Entry;

#[derive(Serialize)]
pub struct AccountView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub currency: &'a str,
    pub timezone: &'a str,
    pub created_at: String,
}

impl<'a> From<&'a Account> for AccountView<'a> {
    fn from(a: &'a Account) -> Self {
        Self {
            id: a.id.as_str(),
            name: a.name.as_str(),
            currency: a.currency.code(),
            timezone: a.zone.name(),
            created_at: a.created_at.to_string(),
        }
    }
}

#[derive(Serialize)]
pub struct EntryView<'a> {
    pub id: String,
    pub account_id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub amount: i64,
    pub currency: &'static str,
    pub description: Option<&'a str>,
    pub occurred_at: String,
    pub business_date: String,
    pub recorded_at: String,
    pub reverses: Option<String>,
    pub reversed_by: Option<String>,
}

impl<'a> From<&'a Entry> for EntryView<'a> {
    fn from(e: &'a Entry) -> Self {
        Self {
            id: e.id.to_string(),
            account_id: e.account_id.as_str(),
            kind: e.kind.as_str(),
            amount: e.amount.minor(),
            currency: e.currency.code(),
            description: e.description.as_ref().map(|d| d.as_str()),
            occurred_at: e.occurred_at.to_string(),
            business_date: e.business_date.to_string(),
            recorded_at: e.recorded_at.to_string(),
            reverses: e.reverses.map(|id| id.to_string()),
            reversed_by: e.reversed_by.map(|id| id.to_string()),
        }
    }
}

#[derive(Serialize)]
pub struct EntryPageView<'a> {
    pub items: Vec<EntryView<'a>>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize)]
pub struct DayView {
    /// Serialised as `YYYY-MM-DD` straight into the output, without a string per day.
    pub date: Date,
    pub opening_balance: i64,
    pub credits: i64,
    pub debits: i64,
    pub net: i64,
    pub closing_balance: i64,
    pub entry_count: i64,
}

impl From<&DailyBalance> for DayView {
    fn from(d: &DailyBalance) -> Self {
        Self {
            date: d.date,
            opening_balance: d.opening,
            credits: d.credits,
            debits: d.debits,
            net: d.net,
            closing_balance: d.closing,
            entry_count: d.entry_count,
        }
    }
}

#[derive(Serialize)]
pub struct DailyBalanceView<'a> {
    pub account_id: &'a str,
    pub currency: &'static str,
    #[serde(flatten)]
    pub day: DayView,
    pub as_of: String,
}

#[derive(Serialize)]
pub struct RangeView<'a> {
    pub account_id: &'a str,
    pub currency: &'static str,
    pub from: String,
    pub to: String,
    pub days: Vec<DayView>,
    pub as_of: String,
}

/// The CSV form of a range: a header, then one line per day.
pub fn range_csv(days: &[DailyBalance]) -> String {
    let mut out = String::from("date,opening_balance,credits,debits,net,closing_balance,entry_count\n");
    for d in days {
        out.push_str(&format!(
            "{},{},{},{},{},{},{}\n",
            d.date, d.opening, d.credits, d.debits, d.net, d.closing, d.entry_count
        ));
    }
    out
}

/// A view serde_json would not render. Views hold only strings and integers, so this does not
/// happen; if it ever did, the request fails with 500 rather than answer an empty body.
#[derive(Debug, thiserror::Error)]
#[error("a view could not be rendered as JSON")]
pub struct RenderError(#[from] pub(crate) serde_json::Error);

/// Renders any view as JSON.
///
/// # Errors
/// [`RenderError`], which views of strings and integers do not meet.
pub fn to_json<T: Serialize>(view: &T) -> Result<String, RenderError> {
    Ok(serde_json::to_string(view)?)
}
