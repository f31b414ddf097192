//! The invariants Fluxo's request parsers keep, one check per fuzz target.
//!
//! Each `pub fn` takes raw bytes, feeds them to the library's real entry points and panics when an
//! invariant breaks. The fuzz targets in `fuzz/fuzz_targets/` run them on generated inputs under
//! libFuzzer; `shared/tests/corpus.rs` replays the committed seed corpus (`fuzz/corpus/<target>/`)
//! through the very same functions on the stable toolchain, so a seed is a regression test.
//!
//! - [`entry_body`]: one body sent as an entry (`POST .../entries`), an account (`PUT`) and a reversal,
//!   through the real `ingest` handler over stub ports, against an independent reading of the JSON.
//! - [`money`]: a JSON amount through the edge's integer parser; render then parse is the identity;
//!   checked sums against 128-bit arithmetic.
//! - [`dates`]: dates, RFC 3339 timestamps and a query string sent to the three `report` operations
//!   that read dates, limits and cursors.
//! - [`message`]: a queue message body through `message::decode`, and back through `encode`.
//! - [`request`]: a whole API Gateway event through routing, authorizer claims and the handlers.
//!
//! The stub ports answer at once from memory and record every write, so a check can tell that a
//! refusal wrote nothing and that a read never writes.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fluxo::auth::{Authenticator, Scope, TokenBinding};
use fluxo::domain::account::{Account, AccountId, AccountName, Currency, Zone};
use fluxo::domain::balance::BalanceHistory;
use fluxo::domain::calendar::{DateRange, parse_date, parse_instant};
use fluxo::domain::entry::{Description, Entry, EntryId, EntryType, Posting};
use fluxo::domain::idempotency::{IdempotencyKey, StoredResponse};
use fluxo::domain::money::{self, Amount};
use fluxo::handlers::{ApiState, ingest, report};
use fluxo::http::BODY_BYTES_MAX;
use fluxo::http::input::{integer, query};
use fluxo::http::route::{request_path, route};
use fluxo::ledger::{Ledger, RelayPolicy};
use fluxo::message;
use fluxo::ports::Recorded;
use fluxo::ports::{Applied, BalanceStore, Clock, EntryPage, LedgerStore, NewEntry, PortError, Publisher, PutAccount};
use http::{Method, header};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use lambda_http::{Body, Request, Response};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Value, json};

/// The instant the stub clock holds: 09:00 of 2026-11-23 in São Paulo.
const NOW: &str = "2026-11-23T12:00:00Z";
/// The one account the stub store holds, and the only one the bearer token grants.
const ACCOUNT: &str = "demo";
/// The entry the stub store holds, a credit of 1500 that a reversal may name.
const SEEDED: &str = "019aa8c0-0000-7000-8000-000000000001";
/// The id the stub store lists on every page, and names as the last of it.
const LISTED: &str = "019aa8c0-0000-7000-8000-0000000000aa";
/// The HS256 secret the checks sign and verify their bearer token with.
const SECRET: &[u8] = b"fluxo-fuzz-secret-of-32-bytes!!";

// ---------------------------------------------------------------------------------------------
// entry_body
// ---------------------------------------------------------------------------------------------

/// The fields an entry body may carry.
const ENTRY_FIELDS: &[&str] = &["type", "amount", "description", "occurred_at", "currency"];

/// One body, sent as an entry, as an account and as a reversal.
pub fn entry_body(data: &[u8]) {
    let body = Shape::of(data);
    check_entry(data, &body);
    check_account(data, &body);
    check_reversal(data, &body);
}

fn check_entry(data: &[u8], body: &Shape) {
    let stub = Stub::new();
    let reply = stub.send_jwt(write(Method::POST, "/v1/accounts/demo/entries", data));
    let writes = stub.take_writes();
    verify_entry(data, body, &stub, &reply, &writes);
}

/// The entry check with the recorded amount moved by one, as a ledger that misread the amount would
/// record it: the check must panic. The corpus test uses it to show that the checks can fail.
#[cfg(test)]
pub fn entry_body_with_misread_amount(data: &[u8]) {
    let stub = Stub::new();
    let reply = stub.send_jwt(write(Method::POST, "/v1/accounts/demo/entries", data));
    let mut writes = stub.take_writes();
    for write in &mut writes {
        if let Write::Record(new) = write {
            let minor = new.entry.amount.minor();
            let misread = if minor < Amount::MAX_MINOR { minor + 1 } else { minor - 1 };
            new.entry.amount = Amount::from_minor(misread).expect("an amount in range");
        }
    }
    verify_entry(data, &Shape::of(data), &stub, &reply, &writes);
}

fn verify_entry(data: &[u8], body: &Shape, stub: &Arc<Stub>, reply: &Reply, writes: &[Write]) {
    let Some(fields) = body.expect_fields(data, reply) else {
        assert!(writes.is_empty(), "a refused entry body wrote {writes:?}");
        return;
    };
    let expected = expected_entry(&fields);
    if reply.status != 201 {
        reply.assert_problem(&[422]);
        assert!(writes.is_empty(), "a refused entry wrote {writes:?}");
        assert!(expected.is_none(), "a valid entry body was refused: {}", reply.text());
        return;
    }
    let Some(want) = expected else { panic!("an invalid entry body was recorded: {}", String::from_utf8_lossy(data)) };
    let new = only_record(writes);
    let entry = &new.entry;
    assert_eq!(entry.account_id.as_str(), ACCOUNT);
    assert_eq!(entry.kind, want.kind);
    assert_eq!(entry.amount.minor(), want.amount_minor);
    assert_eq!(entry.description.as_ref().map(Description::as_str), want.description.as_deref());
    assert_eq!(entry.currency.code(), "BRL");
    assert_eq!(entry.recorded_at, now());
    assert_eq!(entry.reverses, None);
    let occurred_at = want.occurred_at.unwrap_or_else(now);
    assert_eq!(entry.occurred_at, occurred_at, "occurred_at was read as another instant");
    assert_eq!(entry.business_date, sao_paulo_date(occurred_at), "the business date is not São Paulo's");
    let published = stub.take_published();
    assert!(published.is_empty(), "ingest publishes nothing: the store's outbox carries the posting: {published:?}");
    check_entry_view(reply, entry);

    // The same request, written canonically, is a retry: its fingerprint matches and the stored
    // answer comes back. Another amount under the same key is a different request.
    let canonical = canonical_entry(&want, entry);
    stub.set_existing(Some(new.response.clone()));
    for retry in [data.to_vec(), canonical.clone()] {
        let again = stub.send_jwt(write(Method::POST, "/v1/accounts/demo/entries", &retry));
        assert_eq!(again.status, 200, "a retry was not replayed: {}", String::from_utf8_lossy(&retry));
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.body, reply.body, "a replay answers the stored body");
    }
    let mut other: Value = serde_json::from_slice(&canonical).expect("the canonical body is JSON");
    let amount = want.amount_minor;
    other["amount"] = json!(if amount < Amount::MAX_MINOR { amount + 1 } else { amount - 1 });
    let reused = stub.send_jwt(write(Method::POST, "/v1/accounts/demo/entries", other.to_string().as_bytes()));
    assert_eq!(reused.status, 409, "another amount under a used key must be refused");
}

/// What an entry body asks for, when valid: the reading the edge must agree with.
struct WantEntry {
    kind: EntryType,
    amount_minor: i64,
    description: Option<String>,
    occurred_at: Option<Timestamp>,
    currency: bool,
}

/// Reads an entry body independently of the edge; `None` when it must be refused.
fn expected_entry(fields: &Fields) -> Option<WantEntry> {
    if !fields.only(ENTRY_FIELDS) {
        return None;
    }
    let kind = match fields.get("type")?.as_str()? {
        "credit" => EntryType::Credit,
        "debit" => EntryType::Debit,
        _ => return None,
    };
    let amount_minor = fields.get("amount")?.as_i64().filter(|n| (1..=Amount::MAX_MINOR).contains(n))?;
    let description = match fields.get("description") {
        None => None,
        Some(Value::String(s)) if s.chars().count() <= 280 && s.len() <= 400 && storable(s) => Some(s.clone()),
        Some(_) => return None,
    };
    let occurred_at = match fields.get("occurred_at") {
        None => None,
        Some(Value::String(s)) => {
            let at = Rfc3339::read(s)?.instant()?;
            let ahead = at.duration_since(now());
            if ahead > SignedDuration::from_mins(5) || -ahead > SignedDuration::from_hours(31 * 24) {
                return None;
            }
            Some(at)
        }
        Some(_) => return None,
    };
    let currency = match fields.get("currency") {
        None => false,
        Some(Value::String(code)) if code == "BRL" => true,
        Some(_) => return None,
    };
    Some(WantEntry { kind, amount_minor, description, occurred_at, currency })
}

/// The request `want` reads as, written plainly: a retry a careful client would send.
fn canonical_entry(want: &WantEntry, entry: &Entry) -> Vec<u8> {
    let mut body = json!({ "type": entry.kind.as_str(), "amount": entry.amount.minor() });
    if let Some(d) = &entry.description {
        body["description"] = json!(d.as_str());
    }
    if want.occurred_at.is_some() {
        body["occurred_at"] = json!(entry.occurred_at.to_string());
    }
    if want.currency {
        body["currency"] = json!("BRL");
    }
    body.to_string().into_bytes()
}

/// The 201 body and `Location` show the entry as recorded.
fn check_entry_view(reply: &Reply, entry: &Entry) {
    let view = reply.json();
    assert_eq!(view["id"], json!(entry.id.to_string()));
    assert_eq!(view["type"], json!(entry.kind.as_str()));
    assert_eq!(view["amount"], json!(entry.amount.minor()));
    assert_eq!(view["description"], json!(entry.description.as_ref().map(Description::as_str)));
    assert_eq!(view["business_date"], json!(entry.business_date.to_string()));
    let occurred = view["occurred_at"].as_str().expect("occurred_at is a string");
    assert_eq!(parse_instant(occurred), Ok(entry.occurred_at), "a rendered occurred_at does not read back");
    let location = format!("/v1/accounts/{ACCOUNT}/entries/{}", entry.id);
    assert_eq!(reply.header("location"), Some(location.as_str()));
}

fn check_account(data: &[u8], body: &Shape) {
    let stub = Stub::new();
    let reply = stub.send_jwt(write(Method::PUT, "/v1/accounts/demo", data));
    let writes = stub.take_writes();
    let Some(fields) = body.expect_fields(data, &reply) else {
        assert!(writes.is_empty(), "a refused account body wrote {writes:?}");
        return;
    };
    let text = |name| fields.get(name).and_then(Value::as_str);
    let valid = fields.only(&["name", "currency", "timezone"])
        && text("name").is_some_and(|n| !n.trim().is_empty() && n.chars().count() <= 200 && storable(n))
        && text("currency").is_some_and(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()))
        && text("timezone").is_some();
    if reply.status != 201 {
        reply.assert_problem(&[422]);
        assert!(writes.is_empty(), "a refused account wrote {writes:?}");
        // A well-shaped currency or zone may still be unknown to ISO 4217 or the tz database.
        let known = text("currency").is_some_and(|c| Currency::parse(c).is_ok())
            && text("timezone").is_some_and(|z| Zone::parse(z).is_ok());
        assert!(!(valid && known), "a valid account body was refused: {}", reply.text());
        return;
    }
    assert!(valid, "an invalid account body was stored: {}", String::from_utf8_lossy(data));
    let [Write::Account(account)] = writes.as_slice() else { panic!("a created account is one write: {writes:?}") };
    assert_eq!(Some(account.name.as_str()), text("name"));
    assert_eq!(Some(account.currency.code()), text("currency"), "a currency code is stored as sent");
    // The zone is stored under its canonical name, which must read back as the same zone: a client
    // that PUTs the account it got back must find it unchanged, not in conflict.
    let zone = Zone::parse(account.zone.name()).expect("a stored zone name reads back");
    assert_eq!(zone, account.zone);
    let asked = Zone::parse(text("timezone").expect("checked above")).expect("the zone was accepted");
    assert_eq!(asked.name(), account.zone.name());
    let view = reply.json();
    assert_eq!(view["timezone"], json!(account.zone.name()));
    assert_eq!(view["currency"], json!(account.currency.code()));
}

fn check_reversal(data: &[u8], body: &Shape) {
    let stub = Stub::new();
    let path = format!("/v1/accounts/demo/entries/{SEEDED}/reversal");
    let reply = stub.send_jwt(write(Method::POST, &path, data));
    let writes = stub.take_writes();
    let Some(fields) = body.expect_fields(data, &reply) else {
        assert!(writes.is_empty(), "a refused reversal body wrote {writes:?}");
        return;
    };
    let description = match fields.get("description") {
        None => Some(None),
        Some(Value::String(s)) if s.chars().count() <= 280 && s.len() <= 400 && storable(s) => Some(Some(s)),
        Some(_) => None,
    };
    let valid = fields.only(&["description"]) && description.is_some();
    if reply.status != 201 {
        reply.assert_problem(&[422]);
        assert!(writes.is_empty(), "a refused reversal wrote {writes:?}");
        assert!(!valid, "a valid reversal body was refused: {}", reply.text());
        return;
    }
    assert!(valid, "an invalid reversal body was recorded: {}", String::from_utf8_lossy(data));
    let entry = &only_record(&writes).entry;
    assert_eq!(entry.reverses, Some(seeded_id()));
    assert_eq!(entry.kind, EntryType::Debit, "the reversal of a credit is a debit");
    assert_eq!(entry.amount.minor(), 1500);
    assert_eq!(entry.description.as_ref().map(|d| d.as_str().to_owned()), description.flatten().cloned());
}

// ---------------------------------------------------------------------------------------------
// money
// ---------------------------------------------------------------------------------------------

/// A JSON amount as the edge reads it, its rendering, and checked sums of the input's first bytes.
pub fn money(data: &[u8]) {
    check_sums(data);
    let Ok(value) = serde_json::from_slice::<Value>(data) else { return };
    let parsed = integer(Amount::from_minor)(&value);
    let literal = json_integer(data);
    let in_range = literal.filter(|n| (1..=i128::from(Amount::MAX_MINOR)).contains(n));
    match parsed {
        Ok(amount) => {
            let want =
                in_range.unwrap_or_else(|| panic!("{:?} was accepted as an amount", String::from_utf8_lossy(data)));
            assert_eq!(i128::from(amount.minor()), want, "an amount was read as another number");
            // Rendered as the views and the CSV render it, then read again: the same amount.
            let rendered = serde_json::to_string(&json!(amount.minor())).expect("an integer renders");
            assert_eq!(rendered, amount.minor().to_string());
            let again = serde_json::from_str::<Value>(&rendered).expect("a rendered amount is JSON");
            assert_eq!(integer(Amount::from_minor)(&again), Ok(amount));
            assert_eq!(message_amount(amount), amount.minor());
        }
        Err(_) => assert!(in_range.is_none(), "the amount {:?} was refused", String::from_utf8_lossy(data)),
    }
}

/// The value of a JSON integer literal (`-?(0|[1-9][0-9]*)` between JSON whitespace), if that is all
/// the text is. Literals too long for `i128` count as out of range.
fn json_integer(data: &[u8]) -> Option<i128> {
    let text = std::str::from_utf8(data).ok()?.trim_matches([' ', '\t', '\n', '\r']);
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let canonical =
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && (digits == "0" || !digits.starts_with('0'));
    if !canonical {
        return None;
    }
    let magnitude = if digits.len() > 30 { i128::MAX } else { digits.parse::<i128>().ok()? };
    Some(if negative { -magnitude } else { magnitude })
}

/// An amount through the queue message, the other place it is written and read.
fn message_amount(amount: Amount) -> i64 {
    let posting = Posting {
        account_id: AccountId::parse(ACCOUNT).expect("the stub account id is valid"),
        entry_id: seeded_id(),
        kind: EntryType::Credit,
        amount,
        business_date: jiff::civil::date(2026, 11, 23),
        recorded_at: now(),
    };
    message::decode(&message::encode(&posting).expect("encoded")).expect("an encoded posting decodes").amount.minor()
}

/// Balance sums never wrap: they equal 128-bit sums or fail.
fn check_sums(data: &[u8]) {
    let Some((a, b)) = data.get(..16).map(|head| {
        let (a, b) = head.split_at(8);
        (i64::from_le_bytes(a.try_into().expect("8 bytes")), i64::from_le_bytes(b.try_into().expect("8 bytes")))
    }) else {
        return;
    };
    let exact = |sum: i128| i64::try_from(sum).map_err(|_| money::Overflow);
    assert_eq!(money::add(a, b), exact(i128::from(a) + i128::from(b)), "{a} + {b}");
    assert_eq!(money::sub(a, b), exact(i128::from(a) - i128::from(b)), "{a} - {b}");
}

// ---------------------------------------------------------------------------------------------
// dates
// ---------------------------------------------------------------------------------------------

/// The text as a date and as a timestamp, then as the query string of the report operations that read
/// dates, limits and cursors.
pub fn dates(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    check_date(text);
    check_instant(text);
    let Some(req) = read(&format!("/v1/accounts/demo/entries?{text}")) else { return };
    let params = query(&req);
    for (_, value) in params.iter() {
        check_date(value);
        check_instant(value);
    }
    let first = |name| params.first(name).map(str::to_owned);
    check_listing(&req, first("date"), first("limit"), first("cursor"));
    check_range(text, first("from"), first("to"));
    if let Some(date) = first("date") {
        check_daily(&date);
    }
}

/// `parse_date` accepts exactly `YYYY-MM-DD` calendar dates, and renders them back as written.
fn check_date(raw: &str) {
    let want = civil_date(raw);
    match parse_date(raw) {
        Ok(date) => {
            assert!(want.is_some(), "{raw:?} was accepted as a date");
            assert_eq!(date.to_string(), raw, "a date does not render as it was written");
        }
        Err(_) => assert!(want.is_none(), "the date {raw:?} was refused"),
    }
}

/// `parse_instant` accepts RFC 3339 timestamps with an offset, reads the instant they name, and reads
/// its own rendering back.
fn check_instant(raw: &str) {
    let want = Rfc3339::read(raw);
    match parse_instant(raw) {
        Ok(at) => {
            let Some(want) = want else { panic!("{raw:?} was accepted as an RFC 3339 timestamp") };
            assert_eq!(Some(at), want.instant(), "{raw:?} was read as another instant");
            // Instants before year 0 render with a six-digit year, outside RFC 3339.
            if at.as_second() >= YEAR_0_SECOND {
                assert_eq!(parse_instant(&at.to_string()), Ok(at), "{at} does not read back");
            }
        }
        Err(_) => assert!(want.and_then(|w| w.instant()).is_none(), "the timestamp {raw:?} was refused"),
    }
}

/// `GET .../entries?date=&limit=&cursor=`: 200 exactly when all three read, with the page asked for.
fn check_listing(req: &Request, date: Option<String>, limit: Option<String>, cursor: Option<String>) {
    let stub = Stub::new();
    let reply = stub.send_jwt(bearer(req_clone(req)));
    let calls = stub.take_reads();
    let want_date = date.as_deref().and_then(civil_date);
    let want_limit = match limit.as_deref() {
        None => Some(100),
        Some(raw) => decimal(raw.strip_prefix('+').unwrap_or(raw)).filter(|n| (1..=500).contains(n)),
    };
    let want_after = match (&cursor, want_date) {
        (None, _) => Some(None),
        (Some(c), Some(d)) => cursor_id(c, d).map(Some),
        (Some(_), None) => None,
    };
    let (Some(want_date), Some(want_limit), Some(want_after)) = (want_date, want_limit, want_after) else {
        reply.assert_problem(&[400, 422]);
        assert!(calls.is_empty(), "a refused listing read the store: {calls:?}");
        return;
    };
    assert_eq!(reply.status, 200, "a valid listing was refused: {}", reply.text());
    let [Read::List { date, after, limit }] = calls.as_slice() else { panic!("a listing is one read: {calls:?}") };
    assert_eq!((*date, *after, *limit as u128), (want_date, want_after, want_limit));
    // The next page's cursor leads to the next page of the same date, and of no other.
    let next = reply.json()["next_cursor"].as_str().expect("the stub always has more").to_owned();
    assert_eq!(cursor_id(&next, want_date), Some(listed_id()), "a cursor does not name the last id");
    let follow = stub.get(&format!("/v1/accounts/demo/entries?date={want_date}&cursor={next}"));
    assert_eq!(follow.status, 200, "a listing's own cursor was refused: {}", follow.text());
    let follow_calls = stub.take_reads();
    assert!(matches!(follow_calls.as_slice(), [Read::List { after: Some(id), .. }] if *id == listed_id()));
    let other_day = want_date.tomorrow().or_else(|_| want_date.yesterday()).expect("a date has a neighbour");
    let replayed = stub.get(&format!("/v1/accounts/demo/entries?date={other_day}&cursor={next}"));
    assert_eq!(replayed.status, 400, "a cursor of {want_date} was accepted for {other_day}");
}

/// `GET .../balances/daily?from=&to=`: 200 exactly for an ordered range of at most 366 days, with one
/// day per calendar day.
fn check_range(text: &str, from: Option<String>, to: Option<String>) {
    let stub = Stub::new();
    let Some(req) = read(&format!("/v1/accounts/demo/balances/daily?{text}")) else { return };
    let reply = stub.send_jwt(bearer(req));
    let calls = stub.take_reads();
    let (Some(from), Some(to)) = (from.as_deref().and_then(civil_date), to.as_deref().and_then(civil_date)) else {
        reply.assert_problem(&[400]);
        assert!(calls.is_empty(), "a refused range read the store: {calls:?}");
        return;
    };
    let span = days_from_civil(to) - days_from_civil(from) + 1;
    assert_eq!(DateRange::new(from, to).is_ok(), (1..=366).contains(&span), "{from}..{to}");
    if !(1..=366).contains(&span) {
        reply.assert_problem(&[422]);
        assert!(calls.is_empty(), "a refused range read the store: {calls:?}");
        return;
    }
    assert_eq!(reply.status, 200, "a valid range was refused: {}", reply.text());
    assert!(matches!(calls.as_slice(), [Read::History { from: f, to: t }] if (*f, *t) == (from, to)));
    let view = reply.json();
    let days = view["days"].as_array().expect("days is a list");
    assert_eq!(days.len() as i64, span, "a range has one day per calendar day");
    for (i, day) in days.iter().enumerate() {
        let date = day["date"].as_str().and_then(civil_date).expect("each day names a date");
        assert_eq!(days_from_civil(date), days_from_civil(from) + i as i64, "days are consecutive from `from`");
        assert_eq!(day["closing_balance"], json!(0));
    }
}

/// `GET .../balances/daily/{date}`: 200 exactly for a calendar date, naming that date.
fn check_daily(raw: &str) {
    // Only text that stays one path segment; the listing covered the rest of the date's reading.
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-+:._~".contains(&b)) {
        return;
    }
    let stub = Stub::new();
    let reply = stub.get(&format!("/v1/accounts/demo/balances/daily/{raw}"));
    match civil_date(raw) {
        Some(_) => {
            assert_eq!(reply.status, 200, "the daily balance of {raw:?} was refused: {}", reply.text());
            assert_eq!(reply.json()["date"], json!(raw));
        }
        None => reply.assert_problem(&[400]),
    }
}

/// The entry id in a cursor, when it is the canonical encoding of `v1|{date}|{UUIDv7}`.
fn cursor_id(cursor: &str, date: Date) -> Option<EntryId> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    if URL_SAFE_NO_PAD.encode(&bytes) != cursor {
        return None;
    }
    let text = String::from_utf8(bytes).ok()?;
    let id = text.strip_prefix(&format!("v1|{date}|"))?;
    EntryId::parse(id).ok()
}

/// A run of ASCII digits as a number (saturating far above any limit).
fn decimal(raw: &str) -> Option<u128> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(raw.bytes().fold(0u128, |n, b| n.saturating_mul(10).saturating_add(u128::from(b - b'0'))))
}

// ---------------------------------------------------------------------------------------------
// message
// ---------------------------------------------------------------------------------------------

/// A queue message body: decoded only when every field is valid, and re-encoded to the same posting.
pub fn message(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let decoded = message::decode(text);
    let want = match Shape::of(data) {
        Shape::Object(members) => Fields::unique(members).and_then(|f| expected_posting(&f)),
        _ => None,
    };
    match decoded {
        Ok(posting) => {
            let Some(want) = want else { panic!("{text:?} was decoded as a posting") };
            assert_eq!(posting, want, "a message was read as another posting");
            assert_eq!(
                message::decode(&message::encode(&posting).expect("encoded")),
                Ok(posting),
                "encode then decode"
            );
        }
        Err(_) => assert!(want.is_none(), "the valid message {text:?} was refused"),
    }
}

/// Reads a posting message independently of `message::decode`; `None` when it must be refused.
fn expected_posting(fields: &Fields) -> Option<Posting> {
    let names = ["v", "account_id", "entry_id", "type", "amount", "business_date", "recorded_at"];
    // Every field is required and none may be null: the message has no optional parts.
    if !fields.only(&names) || fields.0.len() != names.len() || fields.0.iter().any(|(_, v)| v.is_null()) {
        return None;
    }
    if fields.get("v")?.as_u64()? != 1 {
        return None;
    }
    let account = fields.get("account_id")?.as_str()?;
    let valid_account = (1..=64).contains(&account.len())
        && account.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let entry = fields.get("entry_id")?.as_str()?;
    if !is_uuid_v7(entry) {
        return None;
    }
    let entry_id = EntryId::parse(entry).expect("a hyphenated UUIDv7");
    assert!(entry_id.to_string().eq_ignore_ascii_case(entry), "{entry:?} was read as {entry_id}");
    let kind = match fields.get("type")?.as_str()? {
        "credit" => EntryType::Credit,
        "debit" => EntryType::Debit,
        _ => return None,
    };
    let amount = fields.get("amount")?.as_i64().and_then(|n| Amount::from_minor(n).ok())?;
    let business_date = civil_date(fields.get("business_date")?.as_str()?)?;
    let recorded_at = Rfc3339::read(fields.get("recorded_at")?.as_str()?)?.instant()?;
    valid_account.then(|| Posting {
        account_id: AccountId::parse(account).expect("an account id of the documented alphabet"),
        entry_id,
        kind,
        amount,
        business_date,
        recorded_at,
    })
}

/// A hyphenated UUID of version 7, read by hand: `xxxxxxxx-xxxx-7xxx-xxxx-xxxxxxxxxxxx`, hex in either case.
fn is_uuid_v7(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            14 => *c == b'7',
            _ => c.is_ascii_hexdigit(),
        })
}

// ---------------------------------------------------------------------------------------------
// request
// ---------------------------------------------------------------------------------------------

/// A whole API Gateway event (REST or HTTP API) through routing, the authorizer's claims and the
/// handler of its function: never a server error, refusals and reads write nothing, and a route names
/// exactly the path it came from.
pub fn request(data: &[u8]) {
    let Ok(mut event) = serde_json::from_slice::<Value>(data) else { return };
    as_api_gateway_sends(&mut event);
    let Ok(req) = lambda_http::request::from_str(&event.to_string()) else { return };
    let path = request_path(&req);
    let routed = route(&req);
    if let Ok(r) = &routed {
        let rebuilt = r.path();
        let with_slash = if path.starts_with('/') { path.clone() } else { format!("/{path}") };
        assert_eq!(rebuilt, with_slash, "a route names another path");
    }
    let stub = Stub::new();
    let ingests = routed.as_ref().is_ok_and(|r| r.op().is_ingest());
    let reply = stub.send(req, Authenticator::ApiGateway, ingests);
    let writes = stub.take_writes();
    assert!(reply.status < 500, "a request ended in a server error: {}", reply.text());
    if !(200..300).contains(&reply.status) {
        reply.assert_problem(&[400, 401, 403, 404, 405, 409, 413, 415, 422]);
        assert!(writes.is_empty(), "a refused request wrote {writes:?}");
    } else if !ingests {
        assert!(writes.is_empty(), "a read wrote {writes:?}");
    }
}

/// Sets the parts of an event that lambda_http's conversion unwraps to values API Gateway always sends.
///
/// lambda_http 1.3 builds the request URL from the `Host` header (or `domainName`), `X-Forwarded-Proto`
/// and the path, then unwraps it; it also unwraps the query string and a base64 body. An event with a
/// scheme like `h!ttps`, a path without its leading `/`, a query with a space or a body that is not
/// base64 panics inside lambda_http, before Fluxo sees it. API Gateway never sends such events (it sets
/// those headers itself and encodes what the client sent), so the check mends them and leaves the rest
/// of the event, including everything Fluxo reads, to the fuzzer.
fn as_api_gateway_sends(event: &mut Value) {
    for key in ["headers", "multiValueHeaders"] {
        let Some(Value::Object(headers)) = event.get_mut(key) else { continue };
        for (name, value) in headers.iter_mut() {
            let sent = match name.to_ascii_lowercase().as_str() {
                "host" => "api.fluxo.test",
                "x-forwarded-proto" => "https",
                _ => continue,
            };
            *value = if key == "headers" { json!(sent) } else { json!([sent]) };
        }
    }
    if let Some(domain @ Value::String(_)) = event.pointer_mut("/requestContext/domainName") {
        *domain = json!("api.fluxo.test");
    }
    for key in ["path", "rawPath"] {
        if let Some(Value::String(path)) = event.get_mut(key)
            && !path.starts_with('/')
        {
            path.insert(0, '/');
        }
    }
    let uri_safe = |q: &str| q.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b));
    if let Some(Value::String(query)) = event.get_mut("rawQueryString")
        && !uri_safe(query)
    {
        query.clear();
    }
    let base64 = event.get("isBase64Encoded") == Some(&json!(true));
    if let Some(Value::String(body)) = event.get_mut("body")
        && base64
        && base64::engine::general_purpose::STANDARD.decode(body.as_bytes()).is_err()
    {
        *body = base64::engine::general_purpose::STANDARD.encode(body.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Independent readings: JSON objects with duplicates kept, dates, RFC 3339
// ---------------------------------------------------------------------------------------------

/// A body as an independent reader sees it.
enum Shape {
    /// Only ASCII whitespace: the edge reads it as an empty object.
    Blank,
    /// A JSON object, its members in order, repeated names kept.
    Object(Vec<(String, Value)>),
    /// JSON, but not an object.
    NotObject,
    /// Not JSON at all.
    Malformed,
}

impl Shape {
    fn of(data: &[u8]) -> Self {
        if data.iter().all(u8::is_ascii_whitespace) {
            return Self::Blank;
        }
        match serde_json::from_slice::<Members>(data) {
            Ok(Members(members)) => Self::Object(members),
            Err(_) if serde_json::from_slice::<Value>(data).is_ok() => Self::NotObject,
            Err(_) => Self::Malformed,
        }
    }

    /// Checks the edge's verdict on the body's shape, and returns its fields when the verdict then
    /// rests on them.
    fn expect_fields(&self, data: &[u8], reply: &Reply) -> Option<Fields> {
        if data.len() > BODY_BYTES_MAX {
            reply.assert_problem(&[413]);
            return None;
        }
        match self {
            Self::Blank => Some(Fields(Vec::new())),
            Self::Malformed => {
                // A repeated name before the syntax error is reported first, as a 422.
                reply.assert_problem(&[400, 422]);
                None
            }
            Self::NotObject => {
                reply.assert_problem(&[422]);
                assert_eq!(reply.json()["errors"][0]["field"], json!("body"));
                None
            }
            Self::Object(members) => match first_repeated(members) {
                Some(name) => {
                    reply.assert_problem(&[422]);
                    let errors = &reply.json()["errors"];
                    assert_eq!(errors, &json!([{ "field": name, "message": "appears more than once" }]));
                    None
                }
                None => Fields::unique(members.clone()),
            },
        }
    }
}

/// The first member name that repeats an earlier one.
fn first_repeated(members: &[(String, Value)]) -> Option<&str> {
    members
        .iter()
        .enumerate()
        .find(|(i, (k, _))| members[..*i].iter().any(|(e, _)| e == k))
        .map(|(_, (k, _))| k.as_str())
}

/// The members of a JSON object with unique names; `null` reads as absent, as at the edge.
struct Fields(Vec<(String, Value)>);

impl Fields {
    fn unique(members: Vec<(String, Value)>) -> Option<Self> {
        first_repeated(&members).is_none().then_some(Self(members))
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v).filter(|v| !v.is_null())
    }

    /// Whether every member is one of `names`.
    fn only(&self, names: &[&str]) -> bool {
        self.0.iter().all(|(k, _)| names.contains(&k.as_str()))
    }
}

/// A JSON object read with every member kept, repeated names included.
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct All;
        impl<'de> Visitor<'de> for All {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    members.push(member);
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(All)
    }
}

/// A calendar date written exactly `YYYY-MM-DD`, read by hand.
fn civil_date(raw: &str) -> Option<Date> {
    let b = raw.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
        return None;
    }
    let date = Date::new(year as i16, month as i8, day as i8).expect("a checked calendar date");
    Some(date)
}

/// `len` ASCII digits at `at` as a number.
fn digits(b: &[u8], at: usize, len: usize) -> Option<i64> {
    let part = b.get(at..at + len)?;
    part.iter().all(u8::is_ascii_digit).then(|| part.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
}

fn days_in_month(year: i64, month: i64) -> i64 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(date: Date) -> i64 {
    let (y, m, d) = (i64::from(date.year()), i64::from(date.month()), i64::from(date.day()));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The Unix second of 0000-01-01T00:00:00Z.
const YEAR_0_SECOND: i64 = -62_167_219_200;

/// A timestamp in the RFC 3339 `date-time` grammar (section 5.6), read by hand:
/// `YYYY-MM-DD` `T` `hh:mm:ss` [`.` digits] then `Z` or `±hh:mm`, `T` and `Z` in either case.
struct Rfc3339 {
    /// Seconds since the Unix epoch, a leap second (`:60`) read as `:59`.
    second: i64,
    /// The fraction's digits, as written.
    fraction: String,
}

impl Rfc3339 {
    fn read(raw: &str) -> Option<Self> {
        let b = raw.as_bytes();
        let date = civil_date(raw.get(..10)?)?;
        if !matches!(b.get(10), Some(b'T' | b't')) || b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
            return None;
        }
        let (hour, minute, second) = (digits(b, 11, 2)?, digits(b, 14, 2)?, digits(b, 17, 2)?);
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        let mut rest = &raw[19..];
        let mut fraction = String::new();
        if let Some(after_dot) = rest.strip_prefix('.') {
            let len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            if len == 0 {
                return None;
            }
            fraction = after_dot[..len].to_owned();
            rest = &after_dot[len..];
        }
        let offset = match rest.as_bytes() {
            b"Z" | b"z" => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let (oh, om) = (digits(rest.as_bytes(), 1, 2)?, digits(rest.as_bytes(), 4, 2)?);
                if oh > 23 || om > 59 {
                    return None;
                }
                if *sign == b'-' { -(oh * 3600 + om * 60) } else { oh * 3600 + om * 60 }
            }
            _ => return None,
        };
        let local = days_from_civil(date) * 86_400 + hour * 3600 + minute * 60 + second.min(59);
        Some(Self { second: local - offset, fraction })
    }

    /// The instant, when a `jiff::Timestamp` holds it to the nanosecond: at most nine fraction digits,
    /// within `Timestamp::MIN..=Timestamp::MAX`.
    fn instant(&self) -> Option<Timestamp> {
        if self.fraction.len() > 9 {
            return None;
        }
        let nanos = format!("{:0<9}", self.fraction).parse::<i32>().expect("nine digits");
        Timestamp::new(self.second, nanos).ok()
    }
}

// ---------------------------------------------------------------------------------------------
// The stub ports and the handler harness
// ---------------------------------------------------------------------------------------------

/// A write the stub store was asked for.
#[derive(Debug)]
enum Write {
    Account(Account),
    Record(Box<NewEntry>),
}

/// A read the checks look at.
#[derive(Debug)]
enum Read {
    List { date: Date, after: Option<EntryId>, limit: usize },
    History { from: Date, to: Date },
}

/// Ports over memory: one account, one seeded entry, answers at once, every call recorded.
struct Stub {
    account: Account,
    /// What `find_key` and `record` answer for a used key; `None` while every key is new.
    existing: Mutex<Option<StoredResponse>>,
    writes: Mutex<Vec<Write>>,
    reads: Mutex<Vec<Read>>,
    published: Mutex<Vec<Posting>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().expect("a check panicked while holding the stub's lock")
}

impl Stub {
    fn new() -> Arc<Self> {
        let account = Account {
            id: AccountId::parse(ACCOUNT).expect("valid id"),
            name: AccountName::parse("Padaria").expect("valid name"),
            currency: Currency::parse("BRL").expect("valid currency"),
            zone: Zone::parse("America/Sao_Paulo").expect("valid zone"),
            created_at: now(),
        };
        Arc::new(Self {
            account,
            existing: Mutex::new(None),
            writes: Mutex::new(Vec::new()),
            reads: Mutex::new(Vec::new()),
            published: Mutex::new(Vec::new()),
        })
    }

    fn set_existing(&self, stored: Option<StoredResponse>) {
        *locked(&self.existing) = stored;
    }

    fn take_writes(&self) -> Vec<Write> {
        std::mem::take(&mut *locked(&self.writes))
    }

    fn take_reads(&self) -> Vec<Read> {
        std::mem::take(&mut *locked(&self.reads))
    }

    fn take_published(&self) -> Vec<Posting> {
        std::mem::take(&mut *locked(&self.published))
    }

    /// Runs `req` through the handler of the function that serves it.
    fn send(self: &Arc<Self>, req: Request, auth: Authenticator, ingest: bool) -> Reply {
        let ledger = Ledger::new(self.clone(), self.clone(), self.clone(), self.clone(), RelayPolicy::default());
        let api = ApiState { ledger, auth };
        let response = if ingest { block_on(ingest::handle(&api, req)) } else { block_on(report::handle(&api, req)) };
        Reply::of(response)
    }

    /// Sends a request that carries the bearer token, to `ingest` for writes and `report` for reads.
    fn send_jwt(self: &Arc<Self>, req: Request) -> Reply {
        let ingest = req.method() != Method::GET;
        self.send(req, Authenticator::jwt(SECRET, &TokenBinding::default()), ingest)
    }

    fn get(self: &Arc<Self>, uri: &str) -> Reply {
        self.send_jwt(bearer(read(uri).expect("a URI the check built")))
    }

    fn seeded(&self) -> Entry {
        Entry {
            id: seeded_id(),
            account_id: self.account.id.clone(),
            kind: EntryType::Credit,
            amount: Amount::from_minor(1500).expect("valid amount"),
            currency: self.account.currency,
            description: None,
            occurred_at: now(),
            business_date: sao_paulo_date(now()),
            recorded_at: now(),
            reverses: None,
            reversed_by: None,
        }
    }
}

#[async_trait]
impl LedgerStore for Stub {
    async fn put_account(&self, account: &Account) -> Result<PutAccount, PortError> {
        locked(&self.writes).push(Write::Account(account.clone()));
        Ok(PutAccount::Created(account.clone()))
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, PortError> {
        Ok((*id == self.account.id).then(|| self.account.clone()))
    }

    async fn find_key(&self, _: &AccountId, _: &IdempotencyKey) -> Result<Option<StoredResponse>, PortError> {
        Ok(locked(&self.existing).clone())
    }

    async fn record(&self, new: &NewEntry) -> Result<Recorded, PortError> {
        if let Some(stored) = locked(&self.existing).clone() {
            return Ok(Recorded::Existing(stored));
        }
        locked(&self.writes).push(Write::Record(Box::new(new.clone())));
        Ok(Recorded::New)
    }

    async fn get_entry(&self, account: &AccountId, id: &EntryId) -> Result<Option<Entry>, PortError> {
        Ok((*account == self.account.id && *id == seeded_id()).then(|| self.seeded()))
    }

    async fn list_entries(
        &self,
        _: &AccountId,
        date: Date,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<EntryPage, PortError> {
        locked(&self.reads).push(Read::List { date, after, limit });
        let listed = Entry { id: listed_id(), business_date: date, ..self.seeded() };
        Ok(EntryPage { items: vec![listed], more_after: Some(listed_id()) })
    }

    async fn list_marked(
        &self,
        _: &AccountId,
        _: Date,
        _: Option<EntryId>,
        _: usize,
    ) -> Result<fluxo::ports::MarkedPage, PortError> {
        Err(PortError::failure("no request reads applied marks"))
    }

    async fn accounts(&self, _: Option<&AccountId>, _: usize) -> Result<Vec<AccountId>, PortError> {
        Ok(Vec::new())
    }

    async fn entry_count(&self, _: &AccountId, _: Date) -> Result<i64, PortError> {
        Ok(0)
    }

    async fn unapplied(&self, _: &AccountId, _: Date) -> Result<Vec<Posting>, PortError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl BalanceStore for Stub {
    async fn apply(&self, postings: &[Posting], _: Timestamp) -> Result<Vec<Applied>, PortError> {
        Ok(postings.iter().map(|_| Applied::Applied).collect())
    }

    async fn history(&self, _: &AccountId, from: Date, to: Date) -> Result<BalanceHistory, PortError> {
        locked(&self.reads).push(Read::History { from, to });
        Ok(BalanceHistory::default())
    }

    async fn rollups(&self, _: &AccountId, _: Date, _: Date) -> Result<fluxo::domain::audit::Rollups, PortError> {
        Err(PortError::failure("no request reads every rollup"))
    }
}

#[async_trait]
impl Publisher for Stub {
    async fn publish(&self, postings: &[Posting]) -> Result<(), PortError> {
        locked(&self.published).extend_from_slice(postings);
        Ok(())
    }
}

impl Clock for Stub {
    fn now(&self) -> Timestamp {
        now()
    }
}

/// Polls a handler to completion. The stub ports never wait, so neither does the handler; a pending
/// poll means something in it waits on the outside world, which these checks must not.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut cx) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("a handler waited although every port answers at once"),
    }
}

/// A response, read once.
struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn of(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        Self { status: parts.status.as_u16(), headers: parts.headers, body: body.as_ref().to_vec() }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> String {
        format!("{} {}", self.status, String::from_utf8_lossy(&self.body))
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("a response is not JSON ({e}): {}", self.text()))
    }

    /// A refusal with one of `statuses`, as problem+json naming its own status.
    fn assert_problem(&self, statuses: &[u16]) {
        assert!(statuses.contains(&self.status), "expected one of {statuses:?}, got {}", self.text());
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "{}", self.text());
        assert_eq!(self.json()["status"], json!(self.status), "{}", self.text());
    }
}

/// A write request with a JSON body, the bearer token and an idempotency key.
fn write(method: Method, uri: &str, body: &[u8]) -> Request {
    let mut req = Request::new(Body::Binary(body.to_vec()));
    *req.method_mut() = method;
    *req.uri_mut() = uri.parse().expect("a URI the check built");
    let headers = req.headers_mut();
    headers.insert(header::CONTENT_TYPE, "application/json".parse().expect("valid header"));
    headers.insert("idempotency-key", "order-1".parse().expect("valid header"));
    bearer(req)
}

/// A `GET` of `uri`, when it is a URI at all.
fn read(uri: &str) -> Option<Request> {
    let mut req = Request::new(Body::Empty);
    *req.uri_mut() = uri.parse().ok()?;
    Some(req)
}

/// A copy of a bodiless `GET` request.
fn req_clone(req: &Request) -> Request {
    let mut copy = Request::new(Body::Empty);
    *copy.uri_mut() = req.uri().clone();
    copy
}

/// Adds the bearer token that grants the stub account both scopes.
fn bearer(mut req: Request) -> Request {
    static TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let token = TOKEN.get_or_init(|| {
        let scopes = [Scope::Read, Scope::Write];
        fluxo::auth::issue(
            SECRET,
            &TokenBinding::default(),
            "merchant",
            &[ACCOUNT.to_owned()],
            &scopes,
            SignedDuration::from_hours(24),
        )
        .expect("a token signs")
    });
    let value = format!("Bearer {token}").parse().expect("a token is a valid header");
    req.headers_mut().insert(header::AUTHORIZATION, value);
    req
}

fn now() -> Timestamp {
    NOW.parse().expect("a valid instant")
}

fn seeded_id() -> EntryId {
    EntryId::parse(SEEDED).expect("a UUIDv7")
}

fn listed_id() -> EntryId {
    EntryId::parse(LISTED).expect("a UUIDv7")
}

fn sao_paulo_date(at: Timestamp) -> Date {
    at.in_tz("America/Sao_Paulo").expect("a bundled zone").date()
}

/// The one entry recorded among `writes`.
fn only_record(writes: &[Write]) -> &NewEntry {
    match writes {
        [Write::Record(new)] => new,
        _ => panic!("an accepted write records exactly one entry: {writes:?}"),
    }
}

/// The rule for stored text, restated: no control character and no Unicode format character (Cf).
fn storable(text: &str) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    !text.chars().any(|c| c.is_control() || c.general_category() == GeneralCategory::Format)
}
