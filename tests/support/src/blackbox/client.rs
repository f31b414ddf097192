//! A merchant's calls to the v1 contract. Builders are returned for requests a test shapes itself;
//! the `async` helpers send, check the happy status and return what the test needs.

use jiff::civil::Date;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Client, Method, RequestBuilder};
use serde_json::{Value, json};

use super::poll;

/// Entry listings are read in pages of this many; more pages than `PAGES_MAX` is a runaway cursor.
const PAGE: usize = 500;
const PAGES_MAX: usize = 100;

/// What the server answered, read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    /// Sends a request; the server must answer.
    pub async fn of(request: RequestBuilder) -> Self {
        Self::try_of(request).await.expect("the server answers")
    }

    /// Sends a request that may find the server gone.
    pub async fn try_of(request: RequestBuilder) -> Result<Self, reqwest::Error> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        Ok(Self { status, headers, text })
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("the body is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and returns the JSON body.
    pub fn expect(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self.json()
    }
}

/// One day of a balance answer, compared as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Day {
    pub opening: i64,
    pub credits: i64,
    pub debits: i64,
    pub net: i64,
    pub closing: i64,
    pub entry_count: i64,
}

impl Day {
    pub fn from_json(v: &Value) -> Self {
        let n = |name: &str| v[name].as_i64().unwrap_or_else(|| panic!("{name} is not an integer in {v}"));
        Self {
            opening: n("opening_balance"),
            credits: n("credits"),
            debits: n("debits"),
            net: n("net"),
            closing: n("closing_balance"),
            entry_count: n("entry_count"),
        }
    }

    /// A day without movement that carries `balance`.
    pub fn quiet(balance: i64) -> Self {
        Self { opening: balance, closing: balance, ..Self::default() }
    }

    /// The day `entries` (entry views) make, opening at `opening`.
    pub fn of(opening: i64, entries: &[Value]) -> Self {
        let sum = |kind: &str| entries.iter().filter(|e| e["type"] == kind).map(amount).sum::<i64>();
        let (credits, debits) = (sum("credit"), sum("debit"));
        let net = credits - debits;
        let entry_count = i64::try_from(entries.len()).expect("few entries");
        Self { opening, credits, debits, net, closing: opening + net, entry_count }
    }
}

/// An entry view's amount.
pub fn amount(entry: &Value) -> i64 {
    entry["amount"].as_i64().unwrap_or_else(|| panic!("no integer amount in {entry}"))
}

/// An entry view's id.
pub fn id(entry: &Value) -> String {
    entry["id"].as_str().unwrap_or_else(|| panic!("no id in {entry}")).to_owned()
}

/// The body of a credit of `amount` minor units that occurred at `at` (RFC 3339).
pub fn credit(amount: i64, at: &str) -> Value {
    json!({"type": "credit", "amount": amount, "occurred_at": at})
}

/// The body of a debit of `amount` minor units that occurred at `at` (RFC 3339).
pub fn debit(amount: i64, at: &str) -> Value {
    json!({"type": "debit", "amount": amount, "occurred_at": at})
}

/// `body` as a batch element under `key`.
pub fn keyed(key: &str, body: &Value) -> Value {
    let mut element = body.clone();
    element["idempotency_key"] = json!(key);
    element
}

/// A fresh idempotency key.
pub fn key() -> String {
    format!("test-{}", super::random_hex(12))
}

/// A caller holding a token for one account.
#[derive(Clone)]
pub struct Merchant {
    http: Client,
    base: String,
    token: String,
    pub account: String,
}

impl Merchant {
    pub fn new(http: Client, base: &str, token: String, account: &str) -> Self {
        Self { http, base: base.to_owned(), token, account: account.to_owned() }
    }

    /// The same account with another token.
    pub fn with_token(&self, token: String) -> Self {
        Self { token, ..self.clone() }
    }

    /// A request to `/v1/accounts/{account}{rest}` with the bearer token.
    pub fn request(&self, method: Method, rest: &str) -> RequestBuilder {
        let url = format!("{}/v1/accounts/{}{rest}", self.base, self.account);
        self.http.request(method, url).bearer_auth(&self.token)
    }

    /// A GET of a server-relative path, such as a `Location` header, with the bearer token.
    pub fn get_path(&self, path: &str) -> RequestBuilder {
        self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token)
    }

    pub fn put_account(&self, body: &Value) -> RequestBuilder {
        self.request(Method::PUT, "").json(body)
    }

    /// Creates the account in BRL and America/Sao_Paulo.
    pub async fn open(&self) -> Value {
        let body = json!({"name": "Padaria São João", "currency": "BRL", "timezone": super::calendar::ZONE});
        Reply::of(self.put_account(&body)).await.expect(201)
    }

    pub fn post_entry(&self, key: &str, body: &Value) -> RequestBuilder {
        self.request(Method::POST, "/entries").header("Idempotency-Key", key).json(body)
    }

    /// A POST of an entry with a raw body, for bodies a JSON encoder would never write.
    pub fn post_body(&self, key: &str, content_type: Option<&str>, body: impl Into<String>) -> RequestBuilder {
        let request = self.request(Method::POST, "/entries").header("Idempotency-Key", key).body(body.into());
        match content_type {
            Some(ct) => request.header(CONTENT_TYPE, ct),
            None => request,
        }
    }

    /// `POST .../entries/batch` with `entries` (each with its own `idempotency_key`).
    pub fn post_batch(&self, entries: &[Value]) -> RequestBuilder {
        self.request(Method::POST, "/entries/batch").json(&json!({ "entries": entries }))
    }

    /// A batch POST with a raw body, for bodies a JSON encoder would never write.
    pub fn post_batch_body(&self, content_type: Option<&str>, body: impl Into<String>) -> RequestBuilder {
        let request = self.request(Method::POST, "/entries/batch").body(body.into());
        match content_type {
            Some(ct) => request.header(CONTENT_TYPE, ct),
            None => request,
        }
    }

    /// Records an entry under a fresh key and returns it.
    pub async fn record(&self, body: &Value) -> Value {
        Reply::of(self.post_entry(&key(), body)).await.expect(201)
    }

    /// A reversal request without a body.
    pub fn reverse(&self, entry_id: &str, key: &str) -> RequestBuilder {
        self.request(Method::POST, &format!("/entries/{entry_id}/reversal")).header("Idempotency-Key", key)
    }

    pub fn get_entry(&self, entry_id: &str) -> RequestBuilder {
        self.request(Method::GET, &format!("/entries/{entry_id}"))
    }

    /// `GET .../entries{query}`, e.g. `list("?date=2026-11-23&limit=3")`.
    pub fn list(&self, query: &str) -> RequestBuilder {
        self.request(Method::GET, &format!("/entries{query}"))
    }

    /// Every entry of `date`, following cursors.
    pub async fn entries_on(&self, date: Date) -> Vec<Value> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..PAGES_MAX {
            let query = match &cursor {
                None => format!("?date={date}&limit={PAGE}"),
                Some(c) => format!("?date={date}&limit={PAGE}&cursor={c}"),
            };
            let page = Reply::of(self.list(&query)).await.expect(200);
            all.extend(page["items"].as_array().expect("items").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return all,
            }
        }
        panic!("the listing of {date} did not end after {PAGES_MAX} pages");
    }

    /// `GET .../balances/daily/{date}` with `date` as written.
    pub fn daily(&self, date: &str) -> RequestBuilder {
        self.request(Method::GET, &format!("/balances/daily/{date}"))
    }

    /// `GET .../balances/daily{query}`.
    pub fn range(&self, query: &str) -> RequestBuilder {
        self.request(Method::GET, &format!("/balances/daily{query}"))
    }

    /// The daily balance of `date`.
    pub async fn day(&self, date: Date) -> Day {
        Day::from_json(&Reply::of(self.daily(&date.to_string())).await.expect(200))
    }

    /// The daily balance of `date` once it equals `want`, or the last one read when consolidation
    /// did not get there in time; the caller asserts on it.
    pub async fn day_when(&self, date: Date, want: Day) -> Day {
        poll::until(|| self.day(date), |day| *day == want).await
    }
}
