//! Business dates as the test accounts see them (America/Sao_Paulo), and timestamps to backdate
//! entries with. Tests that need a date prefer the `business_date` the server answered with.

use jiff::civil::Date;
use jiff::{SignedDuration, Span, Timestamp};
use serde_json::Value;

/// The time zone of every test account.
pub const ZONE: &str = "America/Sao_Paulo";

/// Today in the accounts' zone.
pub fn today() -> Date {
    Timestamp::now().in_tz(ZONE).expect("the bundled tz database knows the zone").date()
}

/// `days` calendar days before `date`.
pub fn days_before(date: Date, days: i64) -> Date {
    date.checked_sub(Span::new().days(days)).expect("a date in range")
}

/// Noon of `date` in the accounts' zone, as RFC 3339.
pub fn local_noon(date: Date) -> String {
    date.at(12, 0, 0, 0).in_tz(ZONE).expect("noon exists in the zone").timestamp().to_string()
}

/// `hour:minute` UTC on `date`, as RFC 3339 with `Z`.
pub fn utc(date: Date, hour: i8, minute: i8) -> String {
    date.at(hour, minute, 0, 0).in_tz("UTC").expect("UTC exists").timestamp().to_string()
}

/// Now shifted by `offset`, as RFC 3339.
pub fn from_now(offset: SignedDuration) -> String {
    Timestamp::now().checked_add(offset).expect("a timestamp in range").to_string()
}

/// The `business_date` of an entry view.
pub fn business_date(entry: &Value) -> Date {
    entry["business_date"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("no business_date in {entry}"))
}
