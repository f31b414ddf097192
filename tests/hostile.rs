//! Hostile input, as one table: huge and fractional amounts, control characters and look-alike
//! Unicode, very long ids and keys, path traversal, JSON bombs, duplicate keys, and tokens that are
//! missing, garbled, expired, forged, unsigned or for someone else. Each row is a request and the
//! 4xx it must get; every refusal must be problem+json and write nothing.
//!
//! One runner serves the whole table. Before it, the shop holds one consolidated entry; after it, the
//! account, its entries, that entry, both days' balances and the neighbour's entries are checked to
//! be exactly as they were, and every Idempotency-Key a row used still records a new entry (a refused
//! request did not claim it). To cover a new kind of input, add a row to [`table`].
//!
//! Cases `tests/http.rs` already makes in the same way are not repeated: every route without a token,
//! with a forged, expired, spliced or `alg: none` one, or with the neighbour's token; 65-character
//! account ids on the account, entry and balance routes. The amounts the contract most often meets
//! (`1.5`, `"100"`, `0`) are in both: there they are refused, here they also must leave their key
//! unclaimed.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fluxo_test_support::blackbox as support;

use std::cell::RefCell;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fluxo::auth::Scope;
use fluxo::domain::idempotency::IdempotencyKey;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use support::calendar::{ZONE, days_before, local_noon, today};
use support::client::{credit, id, key, keyed};
use support::{Config, Day, Merchant, Reply, TestApp, assert_fields, assert_problem, spawn_with};

const SHOP: &str = "shop-1";
const NEIGHBOUR: &str = "shop-2";
/// The largest body the HTTP edge reads (`fluxo::http::BODY_BYTES_MAX`); the bombs stay within it, so
/// the parser, not the size check, has to refuse them.
const BODY_LIMIT: usize = fluxo::http::BODY_BYTES_MAX;
/// The largest batch body (`fluxo::http::BATCH_BODY_BYTES_MAX`).
const BATCH_LIMIT: usize = fluxo::http::BATCH_BODY_BYTES_MAX;
/// Ten kilobytes: an id or a key far past any length the contract allows, well inside the body limit.
const TEN_KB: usize = 10 * 1024;

/// How a row's request goes out.
enum Outgoing {
    /// Through the HTTP client.
    Http(Box<RequestBuilder>),
    /// As bytes on a fresh connection, for what a client would normalise away (`..` segments).
    Raw(String),
}

/// One row: what is sent, the status it must get and, for a 422, the field it must name.
struct Case {
    name: String,
    outgoing: Outgoing,
    status: u16,
    field: Option<&'static str>,
}

/// The shop the table attacks, its neighbour, and what the rows draw from.
struct Shop {
    app: TestApp,
    owner: Merchant,
    neighbour: Merchant,
    /// The shop's one entry, recorded and consolidated before the table runs.
    entry: Value,
    /// When the rows' entries occurred: noon yesterday, inside the window an entry may be recorded in.
    at: String,
    /// Every Idempotency-Key a row sent; none of them may be claimed by a refused request.
    keys: RefCell<Vec<String>>,
}

impl Shop {
    async fn open() -> Self {
        // The table and the check of its keys send some thousand requests to one account at once;
        // the caller's rate limit, which has tests of its own, is set far above that.
        let limits = Config::new().var("FLUXO_RATE_PER_MIN", "6000000").var("FLUXO_RATE_BURST", "100000");
        let app = spawn_with(limits).await;
        let owner = app.merchant(SHOP);
        owner.open().await;
        let neighbour = app.merchant(NEIGHBOUR);
        neighbour.open().await;
        let at = local_noon(yesterday());
        let entry = owner.record(&credit(2_500, &at)).await;
        let want = Day::of(0, std::slice::from_ref(&entry));
        assert_eq!(owner.day_when(yesterday(), want).await, want, "the baseline entry is consolidated");
        Self { app, owner, neighbour, entry, at, keys: RefCell::new(Vec::new()) }
    }

    /// A fresh Idempotency-Key, remembered for the check that it stayed unclaimed.
    fn key(&self) -> String {
        let k = key();
        self.keys.borrow_mut().push(k.clone());
        k
    }

    /// A credit body of the shop with `amount` written as raw JSON.
    fn amount(&self, amount: &str) -> String {
        format!(r#"{{"type":"credit","amount":{amount},"occurred_at":"{}"}}"#, self.at)
    }

    /// A credit body of the shop with `description` written as raw JSON.
    fn described(&self, description: &str) -> String {
        format!(r#"{{"type":"credit","amount":100,"description":{description},"occurred_at":"{}"}}"#, self.at)
    }

    /// A good credit body: rows that attack something else send it.
    fn good(&self) -> String {
        credit(100, &self.at).to_string()
    }

    /// POST of an entry with a raw JSON body under a fresh key, by `who`. Bodies stay within the limit,
    /// so what refuses them is the parser and the validation, not the size check.
    fn post_as(&self, who: &Merchant, body: impl Into<String>) -> RequestBuilder {
        let body = body.into();
        assert!(body.len() <= BODY_LIMIT, "a row's body is over the limit: {} bytes", body.len());
        who.post_body(&self.key(), Some("application/json"), body)
    }

    /// POST of an entry by the owner; see [`Shop::post_as`].
    fn post(&self, body: impl Into<String>) -> RequestBuilder {
        self.post_as(&self.owner, body)
    }

    /// A good credit as a batch element under a fresh key.
    fn keyed_good(&self) -> String {
        keyed(&self.key(), &credit(100, &self.at)).to_string()
    }

    /// POST of a batch with a raw JSON body by the owner. Bodies stay within the batch limit unless
    /// the row is about the limit.
    fn batch(&self, body: impl Into<String>) -> RequestBuilder {
        self.owner.post_batch_body(Some("application/json"), body)
    }

    /// A reversal of the shop's entry with a raw JSON body under a fresh key.
    fn reverse(&self, body: impl Into<String>) -> RequestBuilder {
        self.owner.reverse(&id(&self.entry), &self.key()).header("content-type", "application/json").body(body.into())
    }

    /// PUT of the shop's account with a raw JSON body.
    fn put(&self, body: impl Into<String>) -> RequestBuilder {
        self.owner.request(Method::PUT, "").header("content-type", "application/json").body(body.into())
    }

    /// A request to `/v1/accounts/{account}{rest}` as written (already percent-encoded), with the
    /// owner's token.
    fn at_path(&self, method: Method, account: &str, rest: &str) -> RequestBuilder {
        let token = self.app.token(&[SHOP], &[Scope::Read, Scope::Write], hour());
        self.app.http.request(method, self.app.url(&format!("/v1/accounts/{account}{rest}"))).bearer_auth(token)
    }

    /// POST of a good entry to the shop under a fresh key, with `authorization` as the whole header.
    fn post_with_authorization(&self, authorization: &str) -> RequestBuilder {
        let request = self.app.http.post(self.app.url(&format!("/v1/accounts/{SHOP}/entries")));
        request
            .header(AUTHORIZATION, authorization)
            .header("Idempotency-Key", self.key())
            .header("content-type", "application/json")
            .body(self.good())
    }

    /// A raw HTTP/1.1 request with the owner's token, closing the connection after the answer.
    fn raw(&self, method: &str, target: &str, extra: &str, body: &str) -> String {
        let token = self.app.token(&[SHOP], &[Scope::Read, Scope::Write], hour());
        format!(
            "{method} {target} HTTP/1.1\r\nHost: fluxo\r\nAuthorization: Bearer {token}\r\n{extra}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    /// An HS256 token over `claims`, signed with the runner's own secret.
    fn signed(&self, claims: &Value) -> String {
        sign(self.app.secret().as_bytes(), Algorithm::HS256, claims)
    }
}

fn hour() -> SignedDuration {
    SignedDuration::from_hours(1)
}

fn yesterday() -> Date {
    days_before(today(), 1)
}

/// Claims that would grant `accounts` both scopes for an hour.
fn claims(accounts: Value) -> Value {
    let exp = Timestamp::now().as_second() + 3_600;
    json!({"sub": "mallory", "exp": exp, "accounts": accounts, "scope": "ledger:read ledger:write"})
}

/// A JWS over `claims` with `secret` and `algorithm`.
fn sign(secret: &[u8], algorithm: Algorithm, claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(algorithm), claims, &EncodingKey::from_secret(secret)).expect("signing a token")
}

/// A token whose header is replaced by `header`, keeping `token`'s claims and `signature`.
fn reheaded(header: &Value, token: &str, signature: &str) -> String {
    let claims = token.split('.').nth(1).expect("a JWS has claims");
    format!("{}.{claims}.{signature}", URL_SAFE_NO_PAD.encode(header.to_string()))
}

/// A refusal with `status`, as problem+json.
fn case(name: impl Into<String>, request: RequestBuilder, status: u16) -> Case {
    Case { name: name.into(), outgoing: Outgoing::Http(Box::new(request)), status, field: None }
}

/// A 422 that must name `field`.
fn invalid(name: impl Into<String>, request: RequestBuilder, field: &'static str) -> Case {
    Case { name: name.into(), outgoing: Outgoing::Http(Box::new(request)), status: 422, field: Some(field) }
}

/// A refusal with `status` of a request written as raw bytes.
fn raw(name: impl Into<String>, request: String, status: u16) -> Case {
    Case { name: name.into(), outgoing: Outgoing::Raw(request), status, field: None }
}

/// Every hostile request and the refusal it must get.
fn table(shop: &Shop) -> Vec<Case> {
    let entry = id(&shop.entry);
    let day = yesterday().to_string();
    let secret = shop.app.secret().as_bytes();
    let valid = shop.signed(&claims(json!([SHOP])));
    let signature = valid.rsplit('.').next().expect("a JWS has a signature").to_owned();
    let long = "x".repeat(TEN_KB);
    let long_id = "a".repeat(TEN_KB);
    let bearer = |token: &str| format!("Bearer {token}");

    vec![
        // Amounts: integers of minor units from 1 to 10^14, written as JSON integers, nothing else.
        invalid("amount 1e300", shop.post(shop.amount("1e300")), "amount"),
        invalid("amount 9223372036854775808 (i64::MAX + 1)", shop.post(shop.amount("9223372036854775808")), "amount"),
        invalid("amount 18446744073709551616 (u64::MAX + 1)", shop.post(shop.amount("18446744073709551616")), "amount"),
        invalid("amount -9223372036854775809 (i64::MIN - 1)", shop.post(shop.amount("-9223372036854775809")), "amount"),
        invalid("amount 1e400, beyond any float", shop.post(shop.amount("1e400")), "body"),
        invalid("amount of 400 digits", shop.post(shop.amount(&format!("1{}", "0".repeat(400)))), "body"),
        invalid("amount 1.5", shop.post(shop.amount("1.5")), "amount"),
        invalid("amount 100.0, a float without a fraction", shop.post(shop.amount("100.0")), "amount"),
        invalid("amount \"100\"", shop.post(shop.amount(r#""100""#)), "amount"),
        invalid("amount \"R$ 15,00\"", shop.post(shop.amount(r#""R$ 15,00""#)), "amount"),
        invalid("amount -1", shop.post(shop.amount("-1")), "amount"),
        invalid("amount 0", shop.post(shop.amount("0")), "amount"),
        invalid("amount -0", shop.post(shop.amount("-0")), "amount"),
        invalid("amount as an object", shop.post(shop.amount(r#"{"$numberLong":"100"}"#)), "amount"),
        invalid("amount as an array", shop.post(shop.amount("[100]")), "amount"),
        invalid("amount true", shop.post(shop.amount("true")), "amount"),
        // Control characters and Unicode where the contract does not take them.
        invalid("NUL in a description", shop.post(shop.described(r#""a\u0000b""#)), "description"),
        invalid(
            "terminal escapes in a description",
            shop.post(shop.described(r#""\u001b[2J\u001b[31mPAID""#)),
            "description",
        ),
        invalid("a lone carriage return in a description", shop.post(shop.described(r#""paid\rvoid""#)), "description"),
        invalid("DEL in a description", shop.post(shop.described(r#""\u007f""#)), "description"),
        invalid("C1 control NEL in a description", shop.post(shop.described(r#""\u0085""#)), "description"),
        invalid("C1 control CSI in a description", shop.post(shop.described(r#""\u009b31m""#)), "description"),
        // Unicode format characters make one text display as another: "PAID" shown reversed, words
        // joined or split where the eye sees nothing.
        invalid(
            "a right-to-left override in a description",
            shop.post(shop.described(r#""\u202eDIAP""#)),
            "description",
        ),
        invalid("a bidi isolate in a description", shop.post(shop.described(r#""\u2067paid\u2069""#)), "description"),
        invalid("a zero-width space in a description", shop.post(shop.described(r#""pa\u200bid""#)), "description"),
        invalid("a byte order mark inside a description", shop.post(shop.described(r#""paid\ufeff""#)), "description"),
        invalid(
            "a zero-width joiner in an account name",
            shop.put(r#"{"name":"Pada\u200dria","currency":"BRL","timezone":"America/Sao_Paulo"}"#),
            "name",
        ),
        invalid(
            "281 emoji in a description",
            shop.post(shop.described(&json!("👍".repeat(281)).to_string())),
            "description",
        ),
        case("a lone surrogate escape in a description", shop.post(shop.described(r#""\ud800""#)), 400),
        case(
            "bytes that are not UTF-8 in a description",
            shop.owner
                .request(Method::POST, "/entries")
                .header("Idempotency-Key", shop.key())
                .header("content-type", "application/json")
                .body([br#"{"type":"credit","amount":5,"description":""#.as_slice(), b"\xff\xfe\"}"].concat()),
            400,
        ),
        case("a byte order mark before the body", shop.post(format!("\u{feff}{}", shop.good())), 400),
        invalid(
            "a fullwidth currency code",
            shop.post(r#"{"type":"credit","amount":5,"currency":"ＢＲＬ"}"#),
            "currency",
        ),
        invalid(
            "NUL in an account name",
            shop.put(r#"{"name":"Padaria\u0000","currency":"BRL","timezone":"America/Sao_Paulo"}"#),
            "name",
        ),
        invalid(
            "an account name of Unicode blanks",
            shop.put(r#"{"name":"\u3000\u00a0\u2003","currency":"BRL","timezone":"America/Sao_Paulo"}"#),
            "name",
        ),
        invalid(
            "201 characters of account name",
            shop.put(json!({"name": "ç".repeat(201), "currency": "BRL", "timezone": ZONE}).to_string()),
            "name",
        ),
        invalid(
            "a time zone with a non-ASCII letter",
            shop.put(r#"{"name":"Padaria","currency":"BRL","timezone":"America/São_Paulo"}"#),
            "timezone",
        ),
        // The `о` is Cyrillic; the token grants the look-alike, which is still no account id.
        case(
            "a Cyrillic look-alike of the account id, granted by the token",
            shop.post_as(&shop.app.merchant("shоp-1"), shop.good()),
            400,
        ),
        case("a fullwidth account id", shop.at_path(Method::GET, "%EF%BD%93%EF%BD%88%EF%BD%8F%EF%BD%90-1", ""), 400),
        case("NUL after the account id", shop.at_path(Method::GET, "shop-1%00", ""), 400),
        case(
            "a line feed after the account id",
            shop.at_path(Method::GET, "shop-1%0A", "/entries?date=2026-01-01"),
            400,
        ),
        case(
            "an entry id with an accented letter",
            shop.at_path(Method::GET, SHOP, &format!("/entries/{}%C3%A9", &entry[..35])),
            400,
        ),
        case(
            "a date in fullwidth digits",
            shop.at_path(Method::GET, SHOP, "/balances/daily/%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-11-23"),
            400,
        ),
        // Ids, keys and values far past their lengths.
        case(
            "a 65-character account id on a reversal",
            shop.at_path(Method::POST, &"a".repeat(65), &format!("/entries/{entry}/reversal"))
                .header("Idempotency-Key", shop.key()),
            400,
        ),
        case("a 10 KB account id", shop.at_path(Method::GET, &long_id, ""), 400),
        case("a 10 KB entry id", shop.at_path(Method::GET, SHOP, &format!("/entries/{long_id}")), 400),
        case(
            "a real entry id and one more character",
            shop.at_path(Method::GET, SHOP, &format!("/entries/{entry}0")),
            400,
        ),
        case(
            "a 10 KB entry id to reverse",
            shop.at_path(Method::POST, SHOP, &format!("/entries/{long_id}/reversal"))
                .header("Idempotency-Key", shop.key()),
            400,
        ),
        case("a 10 KB Idempotency-Key", shop.owner.post_body(&long, Some("application/json"), shop.good()), 400),
        case("a 10 KB cursor", shop.owner.list(&format!("?date={day}&cursor={long}")), 400),
        case("a 10 KB date", shop.owner.list(&format!("?date={long}")), 400),
        case("a 10 KB daily balance date", shop.owner.daily(&long), 400),
        invalid("a 10 KB description", shop.post(shop.described(&json!(long).to_string())), "description"),
        invalid(
            "a 10 KB occurred_at",
            shop.post(json!({"type": "credit", "amount": 5, "occurred_at": long}).to_string()),
            "occurred_at",
        ),
        invalid(
            "a 10 KB time zone",
            shop.put(json!({"name": "Padaria", "currency": "BRL", "timezone": long}).to_string()),
            "timezone",
        ),
        case("a 10 KB unknown member name", shop.post(format!(r#"{{"type":"credit","amount":5,"{long}":1}}"#)), 422),
        // Path traversal: ids are parsed, never joined into a path, and a `..` segment matches no route.
        case("../ in an account id", shop.at_path(Method::GET, "..%2Fshop-2", ""), 400),
        case("../../ to another route in an account id", shop.at_path(Method::GET, "..%2F..%2Fhealth", ""), 400),
        case("%2e%2e as an account id", shop.at_path(Method::GET, "%2e%2e%2Fshop-2", "/entries?date=2026-01-01"), 400),
        case(
            "../ to the neighbour in an entry id",
            shop.at_path(Method::GET, SHOP, "/entries/..%2F..%2Fshop-2%2Fentries"),
            400,
        ),
        case("..\\ in an entry id", shop.at_path(Method::GET, SHOP, "/entries/..%5C..%5Cshop-2"), 400),
        case(
            "../ in a reversal's entry id",
            shop.at_path(Method::POST, SHOP, "/entries/..%2F..%2Fshop-2/reversal")
                .header("Idempotency-Key", shop.key()),
            400,
        ),
        case("../ in a daily balance date", shop.at_path(Method::GET, SHOP, "/balances/daily/..%2F..%2Fentries"), 400),
        raw(
            "a literal .. from the neighbour to the shop",
            shop.raw("GET", "/v1/accounts/shop-2/../shop-1", "", ""),
            404,
        ),
        raw(
            "a literal ../.. from the shop's entries to the neighbour's",
            {
                let body = shop.good();
                let target = "/v1/accounts/shop-1/entries/../../shop-2/entries";
                shop.raw(
                    "POST",
                    target,
                    &format!("Idempotency-Key: {}\r\nContent-Type: application/json\r\n", shop.key()),
                    &body,
                )
            },
            404,
        ),
        raw("a literal . segment", shop.raw("GET", &format!("/v1/accounts/shop-1/./entries?date={day}"), "", ""), 404),
        // Batches: what is wrong with a batch itself refuses all of it, and none of its keys is claimed.
        case(
            "a batch one byte over 256 KiB",
            shop.batch({
                let body = format!(r#"{{"entries":[{}]}}"#, shop.keyed_good());
                format!("{body}{}", " ".repeat(BATCH_LIMIT + 1 - body.len()))
            }),
            413,
        ),
        invalid(
            "a batch of 501 entries",
            shop.batch(format!(
                r#"{{"entries":[{}]}}"#,
                (0..501).map(|_| shop.keyed_good()).collect::<Vec<_>>().join(",")
            )),
            "entries",
        ),
        invalid(
            "a batch whose third entry repeats the first one's key",
            shop.batch({
                let first = shop.keyed_good();
                format!(r#"{{"entries":[{first},{},{first}]}}"#, shop.keyed_good())
            }),
            "entries[2].idempotency_key",
        ),
        invalid(
            "a batch body of 100,000 nested arrays",
            shop.batch(format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))),
            "body",
        ),
        invalid(
            "entries of 40,000 nested objects",
            shop.batch(format!(r#"{{"entries":{}1{}}}"#, r#"{"a":"#.repeat(40_000), "}".repeat(40_000))),
            "entries",
        ),
        invalid("entries as a string", shop.batch(r#"{"entries":"[]"}"#), "entries"),
        invalid(
            "a zero-width space inside the member entries",
            shop.batch(format!(r#"{{"entr\u200bies":[{}]}}"#, shop.keyed_good())),
            "entr\u{200b}ies",
        ),
        invalid(
            "a batch envelope with a second member",
            shop.batch(format!(r#"{{"entries":[{}],"entries_count":1}}"#, shop.keyed_good())),
            "entries_count",
        ),
        // JSON bombs within the 16 KiB a body may have.
        case(
            "8,000 nested arrays in a description",
            shop.post(format!(
                r#"{{"type":"credit","amount":5,"description":{}{}}}"#,
                "[".repeat(8_000),
                "]".repeat(8_000)
            )),
            400,
        ),
        case("2,700 nested objects", shop.post(format!("{}1{}", r#"{"a":"#.repeat(2_700), "}".repeat(2_700))), 400),
        invalid("16 KiB of opening brackets", shop.post("[".repeat(BODY_LIMIT)), "body"),
        case("16 KiB of opening braces and keys", shop.post(r#"{"a":"#.repeat(BODY_LIMIT / 5)), 400),
        invalid("1,500 unknown members", shop.post(wide_object(1_500)), "k0"),
        invalid(
            "an 8,000-element array as a description",
            shop.post(shop.described(&format!("[{}0]", "0,".repeat(7_999)))),
            "description",
        ),
        invalid(
            "one member repeated 1,000 times",
            shop.post(format!("{{{}}}", vec![r#""amount":1"#; 1_000].join(","))),
            "amount",
        ),
        // Duplicate keys: a parser keeping the first or the last value would believe one of two stories.
        invalid(
            "currency twice in an account, BRL then USD",
            shop.put(r#"{"name":"Padaria","currency":"BRL","timezone":"America/Sao_Paulo","currency":"USD"}"#),
            "currency",
        ),
        invalid(
            "type twice, the second spelled with an escape",
            shop.post(format!(r#"{{"type":"credit","amount":5,"\u0074ype":"debit","occurred_at":"{}"}}"#, shop.at)),
            "type",
        ),
        invalid(
            "occurred_at twice",
            shop.post(format!(r#"{{"type":"credit","amount":5,"occurred_at":"{0}","occurred_at":"{0}"}}"#, shop.at)),
            "occurred_at",
        ),
        invalid(
            "description twice in a reversal",
            shop.reverse(r#"{"description":"a","description":"b"}"#),
            "description",
        ),
        // Credentials: missing, garbled, expired, forged, unsigned, or for another account or scope.
        case("an empty Authorization header", shop.post_with_authorization(""), 401),
        case(
            "a bearer token followed by more words",
            shop.post_with_authorization(&format!("Bearer {valid} {valid}")),
            401,
        ),
        case("a 10 KB garbled bearer token", shop.post_with_authorization(&bearer(&long)), 401),
        case(
            "a token expired 5 seconds ago",
            shop.post_with_authorization(&bearer(&shop.signed(&with(
                claims(json!([SHOP])),
                "exp",
                json!(Timestamp::now().as_second() - 5),
            )))),
            401,
        ),
        case(
            "a token without exp",
            shop.post_with_authorization(&bearer(&shop.signed(&without(claims(json!([SHOP])), "exp")))),
            401,
        ),
        case(
            "a token whose exp is a string",
            shop.post_with_authorization(&bearer(&shop.signed(&with(
                claims(json!([SHOP])),
                "exp",
                json!("9999999999"),
            )))),
            401,
        ),
        case(
            "a token signed with an empty secret",
            shop.post_with_authorization(&bearer(&sign(b"", Algorithm::HS256, &claims(json!([SHOP]))))),
            401,
        ),
        case(
            "a token signed with the secret and one more byte",
            shop.post_with_authorization(&bearer(&sign(
                &[secret, b"x"].concat(),
                Algorithm::HS256,
                &claims(json!([SHOP])),
            ))),
            401,
        ),
        case(
            "a token signed HS512 with the runner's own secret",
            shop.post_with_authorization(&bearer(&sign(secret, Algorithm::HS512, &claims(json!([SHOP]))))),
            401,
        ),
        case(
            "alg none keeping a valid signature",
            shop.post_with_authorization(&bearer(&reheaded(&json!({"alg": "none", "typ": "JWT"}), &valid, &signature))),
            401,
        ),
        case(
            "alg nOnE without a signature",
            shop.post_with_authorization(&bearer(&reheaded(&json!({"alg": "nOnE", "typ": "JWT"}), &valid, ""))),
            401,
        ),
        case(
            "accounts as a string instead of a list",
            shop.post_with_authorization(&bearer(&shop.signed(&claims(json!(SHOP))))),
            401,
        ),
        case(
            "a token for SHOP-1, another case",
            shop.post_with_authorization(&bearer(&shop.signed(&claims(json!(["SHOP-1"]))))),
            403,
        ),
        case(
            "a token for shop-10, a longer id",
            shop.post_with_authorization(&bearer(&shop.signed(&claims(json!(["shop-10"]))))),
            403,
        ),
        case(
            "a token for shop, a prefix",
            shop.post_with_authorization(&bearer(&shop.signed(&claims(json!(["shop"]))))),
            403,
        ),
        case(
            "a token for the account *",
            shop.post_with_authorization(&bearer(&shop.signed(&claims(json!(["*"]))))),
            403,
        ),
        case(
            "the scope ledger:*",
            shop.post_with_authorization(&bearer(&shop.signed(&with(
                claims(json!([SHOP])),
                "scope",
                json!("ledger:*"),
            )))),
            403,
        ),
        case(
            "the scopes comma separated",
            shop.post_with_authorization(&bearer(&shop.signed(&with(
                claims(json!([SHOP])),
                "scope",
                json!("ledger:read,ledger:write"),
            )))),
            403,
        ),
        case(
            "the scope in capitals",
            shop.post_with_authorization(&bearer(&shop.signed(&with(
                claims(json!([SHOP])),
                "scope",
                json!("LEDGER:WRITE"),
            )))),
            403,
        ),
    ]
}

/// `{"k0":0,"k1":0,...}` with `members` members.
fn wide_object(members: usize) -> String {
    let body: Vec<String> = (0..members).map(|i| format!(r#""k{i}":0"#)).collect();
    let body = format!("{{{}}}", body.join(","));
    assert!(body.len() <= BODY_LIMIT, "the wide object must fit the body limit: {} bytes", body.len());
    body
}

/// `object` with `member` set to `value`.
fn with(mut object: Value, member: &str, value: Value) -> Value {
    object[member] = value;
    object
}

/// `object` without `member`.
fn without(mut object: Value, member: &str) -> Value {
    object.as_object_mut().expect("an object").remove(member);
    object
}

/// Writes `request` on a fresh connection and reads the answer until the runner closes it.
async fn exchange(address: &str, request: String) -> Reply {
    let authority = address.strip_prefix("http://").expect("an http address").to_owned();
    let answer = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(authority)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        stream.write_all(request.as_bytes())?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        Ok(answer)
    })
    .await
    .expect("the exchange task")
    .expect("the raw exchange");
    let answer = String::from_utf8(answer).expect("the answer is UTF-8");
    let (head, text) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("no header end in {answer:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':').unwrap_or_else(|| panic!("a malformed header line {line:?}"));
        let name = HeaderName::from_bytes(name.trim().as_bytes()).expect("a header name");
        headers.append(name, HeaderValue::from_str(value.trim()).expect("a header value"));
    }
    Reply { status, headers, text: text.to_owned() }
}

#[tokio::test]
async fn given_a_shop_when_hostile_requests_arrive_then_each_gets_its_4xx_as_a_problem_and_nothing_is_written() {
    // GIVEN a shop with one consolidated entry and a neighbour.
    let shop = Shop::open().await;
    let account = Reply::of(shop.owner.request(Method::GET, "")).await.expect(200);
    let before = shop.owner.day(yesterday()).await;

    // WHEN every row of the table is sent.
    let cases = table(&shop);
    assert!(cases.len() >= 80, "the table lost rows: {}", cases.len());
    for case in cases {
        let reply = match case.outgoing {
            Outgoing::Http(request) => Reply::of(*request).await,
            Outgoing::Raw(request) => exchange(&shop.app.address, request).await,
        };
        // THEN each gets its status, as a problem+json body naming the field when it is a 422.
        assert_eq!(reply.status, case.status, "{}: {}", case.name, reply.text);
        match case.field {
            Some(field) => assert_fields(&reply, &[field]),
            None => assert_problem(&reply, case.status),
        };
    }

    // AND nothing was written: the account, the entry, the listings and both days' balances are as before.
    assert_eq!(Reply::of(shop.owner.request(Method::GET, "")).await.expect(200), account, "the account changed");
    assert_eq!(Reply::of(shop.owner.get_entry(&id(&shop.entry))).await.expect(200), shop.entry, "the entry changed");
    assert_eq!(shop.owner.entries_on(yesterday()).await, vec![shop.entry.clone()], "a refused request wrote an entry");
    assert_eq!(shop.owner.entries_on(today()).await, Vec::<Value>::new(), "a refused request wrote an entry today");
    for day in [yesterday(), today()] {
        assert_eq!(shop.neighbour.entries_on(day).await, Vec::<Value>::new(), "the neighbour got an entry on {day}");
    }
    assert_eq!(shop.owner.day(yesterday()).await, before, "yesterday's balance moved");
    assert_eq!(shop.owner.day(today()).await, Day::quiet(before.closing), "today's balance moved");

    // AND no refused request claimed its Idempotency-Key: each still records a new entry, not a replay.
    let keys: Vec<String> = shop.keys.take().into_iter().filter(|k| IdempotencyKey::parse(k).is_ok()).collect();
    assert!(keys.len() >= 60, "the rows sent only {} keys", keys.len());
    for k in &keys {
        let reply = Reply::of(shop.owner.post_entry(k, &credit(1, &shop.at))).await;
        assert_eq!(reply.status, 201, "the key {k} was claimed by a refused request: {}", reply.text);
    }
    assert_eq!(shop.owner.entries_on(yesterday()).await.len(), keys.len() + 1, "one entry per key, and the first");
}

/// `body`, a raw JSON object with at least one member, with `idempotency_key` first.
fn element(key: &str, body: &str) -> String {
    let members = body.strip_prefix('{').unwrap_or_else(|| panic!("not an object: {body}"));
    format!(r#"{{"idempotency_key":"{key}",{members}"#)
}

#[tokio::test]
async fn given_a_batch_mixing_hostile_and_good_entries_then_only_the_good_are_recorded_and_each_hostile_one_is_named() {
    // GIVEN a shop, and hostile entry bodies from the table, each with the field it must be refused for.
    let shop = Shop::open().await;
    let hostile: Vec<(String, &str)> = vec![
        (shop.amount("1e300"), "amount"),
        (shop.amount("9223372036854775808"), "amount"),
        (shop.amount("1e400"), "entry"),
        (shop.amount(r#""R$ 15,00""#), "amount"),
        (shop.amount("-0"), "amount"),
        (shop.described(r#""a\u0000b""#), "description"),
        (shop.described(r#""\u001b[2J\u001b[31mPAID""#), "description"),
        (shop.described(r#""\u202eDIAP""#), "description"),
        (shop.described(r#""pa\u200bid""#), "description"),
        (r#"{"type":"credit","amount":5,"currency":"ＢＲＬ"}"#.to_owned(), "currency"),
        (wide_object(1_500), "k0"),
        (format!("{{{}}}", vec![r#""amount":1"#; 1_000].join(",")), "amount"),
    ];
    let mut elements = vec![shop.keyed_good()];
    let mut expected: Vec<(u64, &str)> = vec![(201, "")];
    for (body, field) in &hostile {
        elements.push(element(&shop.key(), body));
        expected.push((422, field));
    }
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    elements.extend(["[1]".to_owned(), "null".to_owned(), r#""a string""#.to_owned(), nested, shop.keyed_good()]);
    expected.extend([(422, "entry"), (422, "entry"), (422, "entry"), (422, "entry"), (201, "")]);

    // WHEN they are sent as one batch.
    let reply = Reply::of(shop.batch(format!(r#"{{"entries":[{}]}}"#, elements.join(",")))).await;

    // THEN each good entry is recorded and each hostile one refused alone, naming its field.
    let body = reply.expect(200);
    let results = body["results"].as_array().unwrap_or_else(|| panic!("no results in {body}"));
    assert_eq!(results.len(), expected.len(), "one result per element: {body}");
    let mut recorded = vec![shop.entry.clone()];
    for (result, (status, field)) in results.iter().zip(&expected) {
        assert_eq!(result["status"], *status, "{result}");
        if *status == 201 {
            recorded.push(result["entry"].clone());
            continue;
        }
        let errors = result["problem"]["errors"].as_array().unwrap_or_else(|| panic!("no errors in {result}"));
        assert!(errors.iter().any(|e| e["field"] == *field), "{field} is not named in {result}");
    }
    recorded.sort_by_key(id);
    let mut listed = shop.owner.entries_on(yesterday()).await;
    listed.sort_by_key(id);
    assert_eq!(listed, recorded, "the day holds the baseline and the good entries only");

    // AND no hostile entry claimed its key.
    for k in shop.keys.take().iter().skip(1).filter(|k| IdempotencyKey::parse(k).is_ok()).take(hostile.len()) {
        let reply = Reply::of(shop.owner.post_entry(k, &credit(1, &shop.at))).await;
        assert_eq!(reply.status, 201, "the key {k} was claimed by a refused entry: {}", reply.text);
    }
}
