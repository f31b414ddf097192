//! Black-box tests of `POST /v1/accounts/{account}/entries/batch`: each test starts the real
//! `fluxo serve` (on the embedded store, or on DynamoDB and SQS under `FLUXO_TEST_BACKEND=aws`) and
//! speaks only HTTP to it. A batch records each valid entry as a single request would, answers one
//! result per entry in order, and refuses as a whole, writing nothing, only what is wrong with the
//! batch itself.

#[path = "support/mod.rs"]
mod support;

use fluxo::auth::Scope;
use jiff::SignedDuration;
use jiff::civil::Date;
use serde_json::{Value, json};

use support::calendar::{days_before, local_noon, today};
use support::client::{credit, debit, id, key, keyed};
use support::{Config, Day, Merchant, Reply, TestApp, assert_fields, assert_problem, spawn_with};

const SHOP: &str = "shop-1";
const BATCH_BODY_BYTES_MAX: usize = 256 * 1024;

fn yesterday() -> Date {
    days_before(today(), 1)
}

/// A runner with an open account and its owner. The caller's rate limit is far above what the tests
/// send: the default burst is one full batch, and a test that sent one could not read its entries
/// for the five seconds the bucket takes to refill. The limit on batches has tests of its own
/// (`runner/src/limit.rs`).
async fn shop() -> (TestApp, Merchant) {
    let app = spawn_with(Config::new().var("FLUXO_RATE_PER_MIN", "6000000").var("FLUXO_RATE_BURST", "100000")).await;
    let owner = app.merchant(SHOP);
    owner.open().await;
    (app, owner)
}

/// The `results` of a 200 batch answer, one per entry sent.
fn results(reply: &Reply, sent: usize) -> Vec<Value> {
    let body = reply.expect(200);
    let results = body["results"].as_array().unwrap_or_else(|| panic!("no results in {body}")).clone();
    assert_eq!(results.len(), sent, "one result per entry: {body}");
    results
}

fn statuses(results: &[Value]) -> Vec<u64> {
    results.iter().map(|r| r["status"].as_u64().unwrap_or_else(|| panic!("no status in {r}"))).collect()
}

/// The entries of the results that recorded or replayed one.
fn entries(results: &[Value]) -> Vec<Value> {
    results.iter().filter(|r| r["entry"].is_object()).map(|r| r["entry"].clone()).collect()
}

/// `count` credits of 1..=count minor units that occurred at `at`, each under a fresh key.
fn credits(count: usize, at: &str) -> Vec<Value> {
    (1..=count).map(|n| keyed(&key(), &credit(i64::try_from(n).expect("small"), at))).collect()
}

#[tokio::test]
async fn a_batch_records_its_valid_entries_refuses_its_invalid_ones_and_answers_each_in_order() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let at = local_noon(day);
    let sent = vec![
        keyed(&key(), &credit(1500, &at)),
        keyed(&key(), &credit(-3, &at)),
        credit(7, &at),
        keyed(&key(), &debit(400, &at)),
        json!("not an entry"),
        keyed(&key(), &json!({"type": "credit", "amount": 9, "occurred_at": at, "currency": "USD"})),
        keyed(&key(), &json!({"type": "credit", "amount": 9, "occurred_at": local_noon(days_before(today(), 40))})),
        keyed(&key(), &json!({"type": "debit", "amount": 1, "occurred_at": at, "extra": true})),
        keyed(&key(), &credit(25, &at)),
    ];
    let results = results(&Reply::of(owner.post_batch(&sent)).await, sent.len());
    assert_eq!(statuses(&results), [201, 422, 422, 201, 422, 422, 422, 422, 201]);
    let refused_fields = ["", "amount", "idempotency_key", "", "entry", "currency", "occurred_at", "extra", ""];
    for (result, field) in results.iter().zip(refused_fields) {
        if field.is_empty() {
            continue;
        }
        let problem = &result["problem"];
        assert_eq!(problem["status"], 422, "{result}");
        assert_eq!(problem["type"], "urn:fluxo:problem:validation", "{result}");
        assert!(problem["errors"].as_array().is_some_and(|e| e.iter().any(|e| e["field"] == field)), "{result}");
    }
    let recorded = entries(&results);
    assert_eq!(recorded.iter().map(|e| e["amount"].clone()).collect::<Vec<_>>(), [json!(1500), json!(400), json!(25)]);
    let mut listed = owner.entries_on(day).await;
    listed.sort_by_key(id);
    let mut expected = recorded.clone();
    expected.sort_by_key(id);
    assert_eq!(listed, expected, "the day holds exactly the recorded entries");
    let want = Day::of(0, &recorded);
    assert_eq!(owner.day_when(day, want).await, want, "the recorded entries reach the day's balance");
}

#[tokio::test]
async fn resending_a_batch_records_nothing_new_and_replays_each_entry() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let sent = credits(20, &local_noon(day));
    let first = results(&Reply::of(owner.post_batch(&sent)).await, sent.len());
    assert!(statuses(&first).iter().all(|s| *s == 201), "{first:?}");
    let again = results(&Reply::of(owner.post_batch(&sent)).await, sent.len());
    assert!(statuses(&again).iter().all(|s| *s == 200), "{again:?}");
    assert!(again.iter().all(|r| r["replayed"] == true), "{again:?}");
    assert_eq!(entries(&again), entries(&first), "a replay answers the entries first recorded");
    assert_eq!(owner.entries_on(day).await.len(), sent.len(), "the resent batch recorded entries again");
    let want = Day::of(0, &entries(&first));
    assert_eq!(owner.day_when(day, want).await, want, "each entry counts once in its balance");
}

#[tokio::test]
async fn a_key_reused_for_another_entry_is_409_for_that_entry_alone() {
    let (_app, owner) = shop().await;
    let at = local_noon(yesterday());
    let (k1, k2) = (key(), key());
    let single = Reply::of(owner.post_entry(&k1, &credit(100, &at))).await.expect(201);
    let sent = vec![keyed(&k1, &credit(100, &at)), keyed(&k2, &debit(30, &at))];
    let replayed = results(&Reply::of(owner.post_batch(&sent)).await, 2);
    assert_eq!(statuses(&replayed), [200, 201]);
    assert_eq!(replayed[0]["entry"], single, "a batch entry replays the single request that used its key");
    let reused = vec![keyed(&k1, &credit(101, &at)), keyed(&k2, &debit(30, &at)), keyed(&key(), &credit(5, &at))];
    let answered = results(&Reply::of(owner.post_batch(&reused)).await, 3);
    assert_eq!(statuses(&answered), [409, 200, 201]);
    assert_eq!(answered[0]["problem"]["type"], "urn:fluxo:problem:conflict");
    assert_eq!(owner.entries_on(yesterday()).await.len(), 3, "the reused key wrote an entry");
}

#[tokio::test]
async fn what_is_wrong_with_the_batch_itself_refuses_all_of_it_and_writes_nothing() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let at = local_noon(day);
    let json = Some("application/json");
    let good = credits(2, &at);
    let repeated = key();
    let duplicates = json!({"entries": [keyed(&repeated, &credit(1, &at)), keyed(&key(), &credit(2, &at)), keyed(&repeated, &credit(3, &at))]});
    let over = json!({ "entries": credits(501, &at) });
    let envelope = |extra: Value| {
        let mut body = json!({ "entries": good });
        body.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        body.to_string()
    };
    let cases: Vec<(String, Option<&str>, u16, Option<&str>)> = vec![
        (r#"{"entries":[{"type":"#.to_owned(), json, 400, None),
        (json!({ "entries": good }).to_string(), Some("text/plain"), 415, None),
        ("[]".to_owned(), json, 422, Some("body")),
        ("{}".to_owned(), json, 422, Some("entries")),
        (String::new(), json, 422, Some("entries")),
        (r#"{"entries":null}"#.to_owned(), json, 422, Some("entries")),
        (r#"{"entries":{}}"#.to_owned(), json, 422, Some("entries")),
        (r#"{"entries":[]}"#.to_owned(), json, 422, Some("entries")),
        (over.to_string(), json, 422, Some("entries")),
        (envelope(json!({"note": "x"})), json, 422, Some("note")),
        (format!(r#"{{"entries":[],"entries":{}}}"#, json!(good)), json, 422, Some("entries")),
        (duplicates.to_string(), json, 422, Some("entries[2].idempotency_key")),
        (format!("{}{}", envelope(json!({})), " ".repeat(BATCH_BODY_BYTES_MAX)), json, 413, None),
    ];
    for (body, content_type, status, field) in cases {
        let reply = Reply::of(owner.post_batch_body(content_type, body.clone())).await;
        let context = body.chars().take(80).collect::<String>();
        assert_eq!(reply.status, status, "{context}: {}", reply.text);
        match field {
            Some(field) => assert_fields(&reply, &[field]),
            None => assert_problem(&reply, status),
        };
    }
    assert_eq!(owner.entries_on(day).await, Vec::<Value>::new(), "a refused batch wrote an entry");
}

#[tokio::test]
async fn a_full_batch_padded_to_the_body_limit_is_recorded_and_one_byte_more_is_413() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let sent = credits(500, &local_noon(day));
    let body = json!({ "entries": sent }).to_string();
    let padded = |len: usize| format!("{body}{}", " ".repeat(len - body.len()));
    let json = Some("application/json");
    assert_problem(&Reply::of(owner.post_batch_body(json, padded(BATCH_BODY_BYTES_MAX + 1))).await, 413);
    let recorded = results(&Reply::of(owner.post_batch_body(json, padded(BATCH_BODY_BYTES_MAX))).await, 500);
    assert!(statuses(&recorded).iter().all(|s| *s == 201), "{recorded:?}");
    // Every entry is listed; their balance is left to the other tests, since consolidating 500
    // entries on the emulator takes longer than a test waits.
    let mut listed: Vec<Value> = owner.entries_on(day).await;
    listed.sort_by_key(id);
    let mut expected = entries(&recorded);
    expected.sort_by_key(id);
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn batches_need_a_token_with_the_account_and_the_write_scope_and_an_open_account() {
    let (app, owner) = shop().await;
    let at = local_noon(yesterday());
    let sent = credits(2, &at);
    let hour = SignedDuration::from_hours(1);
    let no_token =
        app.http.post(app.url(&format!("/v1/accounts/{SHOP}/entries/batch"))).json(&json!({"entries": sent}));
    assert_problem(&Reply::of(no_token).await, 401);
    let reader = owner.with_token(app.token(&[SHOP], &[Scope::Read], hour));
    assert_problem(&Reply::of(reader.post_batch(&sent)).await, 403);
    let stranger = owner.with_token(app.token(&["shop-2"], &[Scope::Write], hour));
    assert_problem(&Reply::of(stranger.post_batch(&sent)).await, 403);
    let unopened = app.merchant("shop-3");
    assert_problem(&Reply::of(unopened.post_batch(&sent)).await, 404);
    assert_eq!(owner.entries_on(yesterday()).await, Vec::<Value>::new(), "a refused batch wrote an entry");
}
