//! The sample events of `events/`, each run through the real handlers over the embedded store in a
//! temporary directory, as `cargo lambda invoke --data-file` hands them to the functions.
//!
//! One scenario walks every sample in the order of [`BEFORE_SEED`] then [`AFTER_SEED`] against one
//! store, so each sample has a meaningful answer: the first `PUT` creates the account and the second
//! finds it, the first reversal succeeds and the second finds the entry reversed. A sample file that
//! is missing from those tables fails [`given_the_events_folder_when_listed_then_every_file_has_one_row`],
//! so a new sample cannot be forgotten.
//!
//! The clock stands still at [`NOW`], which is 09:00 of 2026-11-23 in São Paulo: the day every sample
//! names.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use aws_lambda_events::event::dynamodb::Event as DynamoEvent;
use aws_lambda_events::sqs::SqsEvent;
use fluxo::config::{Embedded, Settings};
use fluxo::domain::account::{AccountId, AccountName, Currency, Zone};
use fluxo::domain::entry::{Description, Entry, EntryId, EntryType};
use fluxo::domain::idempotency::{Fingerprint, IdempotencyKey, StoredResponse};
use fluxo::domain::money::Amount;
use fluxo::handlers::{ApiState, consolidate, ingest, relay, report};
use fluxo::http::route::{Op, request_path, route};
use fluxo::message;
use fluxo::ports::Outbox;
use fluxo::ports::{Clock, Inbox, NewEntry, Recorded};
use http::HeaderMap;
use jiff::Timestamp;
use jiff::civil::{Date, date};
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;
use serde_json::{Value, json};
use tempfile::TempDir;

const EVENTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");

/// The instant every test runs at.
const NOW: &str = "2026-11-23T12:00:00Z";
/// The business date of [`NOW`] in the demo account's zone, and of every sample.
const DAY: &str = "2026-11-23";
/// The entry the reversal and get-entry samples name; the SQS sample credits it.
const SEEDED: &str = "019aa8c0-0000-7000-8000-000000000001";
/// The second entry the SQS sample posts, a debit.
const SEEDED_DEBIT: &str = "019aa8c0-0000-7000-8000-000000000002";
/// The SQS sample's message whose body is not a posting.
const POISON_MESSAGE_ID: &str = "7d0c4a51-2b3e-4f60-9a1d-0000000000ff";

// ---------------------------------------------------------------------------------------------
// The expectation tables
// ---------------------------------------------------------------------------------------------

/// One sample file, the status its handler must answer, and what the answer must hold.
struct Expect {
    file: &'static str,
    status: u16,
    check: fn(&Reply),
}

/// GIVEN a ledger without accounts.
const BEFORE_SEED: &[Expect] = &[
    Expect { file: "apigw-rest/health.json", status: 200, check: health },
    Expect { file: "apigw-http/health.json", status: 200, check: health },
    Expect { file: "apigw-rest/put-account.json", status: 201, check: demo_account },
    // The same account again: unchanged, so 200 with the stored account.
    Expect { file: "apigw-http/put-account.json", status: 200, check: demo_account },
];

/// GIVEN the demo account and the two seeded entries, recorded but not consolidated.
const AFTER_SEED: &[Expect] = &[
    Expect { file: "apigw-rest/get-account.json", status: 200, check: demo_account },
    Expect { file: "apigw-http/get-account.json", status: 200, check: demo_account },
    // The two kinds carry different Idempotency-Keys: two entries.
    Expect { file: "apigw-rest/post-entry.json", status: 201, check: coffee_entry },
    Expect { file: "apigw-http/post-entry.json", status: 201, check: coffee_entry },
    Expect { file: "apigw-rest/reverse-entry.json", status: 201, check: reversal_of_seeded },
    // Another key for the same reversal: the entry is reversed already.
    Expect { file: "apigw-http/reverse-entry.json", status: 409, check: already_reversed },
    Expect { file: "apigw-rest/get-entry.json", status: 200, check: seeded_and_reversed },
    Expect { file: "apigw-http/get-entry.json", status: 200, check: seeded_and_reversed },
    Expect { file: "apigw-rest/list-entries.json", status: 200, check: the_days_five_entries },
    Expect { file: "apigw-http/list-entries.json", status: 200, check: the_days_five_entries },
    // Consolidates the two seeded entries; the HTTP samples' entries wait on the queue, unconsumed.
    Expect { file: "sqs/batch.json", status: 200, check: only_the_poison_failed },
    Expect { file: "apigw-rest/daily-balance.json", status: 200, check: the_day_after_the_batch },
    Expect { file: "apigw-http/daily-balance.json", status: 200, check: the_day_after_the_batch },
    Expect { file: "apigw-rest/balance-range.json", status: 200, check: november_after_the_batch },
    Expect { file: "apigw-http/balance-range.json", status: 200, check: november_after_the_batch },
    // Two coffees and one reversal are recorded and not consolidated: reconciliation publishes them.
    Expect { file: "scheduled/relay.json", status: 200, check: three_republished },
    // One new entry item among the stream's records: relay publishes it, and nothing fails.
    Expect { file: "dynamodb/stream.json", status: 200, check: nothing_failed },
    // A point-of-sale batch: two entries recorded and one refused on its own.
    Expect { file: "apigw-rest/post-batch.json", status: 200, check: two_of_the_batch_recorded },
    // The same batch through the other kind of API: both entries replayed, the third refused again.
    Expect { file: "apigw-http/post-batch.json", status: 200, check: the_batch_replayed },
];

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[test]
fn given_the_events_folder_when_listed_then_every_file_has_one_row() {
    let rows: Vec<&str> = BEFORE_SEED.iter().chain(AFTER_SEED).map(|e| e.file).collect();
    let tabled: BTreeSet<String> = rows.iter().map(|f| (*f).to_owned()).collect();
    assert_eq!(tabled.len(), rows.len(), "a sample appears twice in the tables");
    let on_disk = event_files();
    let untabled: Vec<_> = on_disk.difference(&tabled).collect();
    let missing: Vec<_> = tabled.difference(&on_disk).collect();
    assert!(untabled.is_empty(), "files in events/ without a row in BEFORE_SEED or AFTER_SEED: {untabled:?}");
    assert!(missing.is_empty(), "rows without a file in events/: {missing:?}");
}

#[tokio::test]
async fn given_a_fresh_ledger_when_every_sample_runs_in_order_then_each_gets_its_expected_answer() {
    let world = world();
    for expect in BEFORE_SEED {
        expect.verify(&world).await;
    }
    seed_entries(&world).await;
    for expect in AFTER_SEED {
        expect.verify(&world).await;
    }
}

#[tokio::test]
async fn given_seeded_entries_when_the_sqs_batch_arrives_twice_then_only_poison_fails_and_the_day_moves_once() {
    // GIVEN the account and the two entries the batch posts, not consolidated yet.
    let world = world();
    open_demo_account(&world).await;
    seed_entries(&world).await;
    let before = run(&world, "apigw-rest/daily-balance.json").await;
    assert_eq!(day_figures(&before.body), [0, 0, 0, 0, 0, 0], "the day starts empty");

    // WHEN the batch arrives, and SQS delivers it again.
    let first = run(&world, "sqs/batch.json").await;
    let after_first = run(&world, "apigw-rest/daily-balance.json").await;
    let redelivered = run(&world, "sqs/batch.json").await;
    let after_redelivery = run(&world, "apigw-rest/daily-balance.json").await;

    // THEN the poison message alone fails, each time, and the day moved by the two postings once.
    only_the_poison_failed(&first);
    only_the_poison_failed(&redelivered);
    // opening, credits, debits, net, closing, entry_count
    assert_eq!(day_figures(&after_first.body), [0, 1500, 400, 1100, 1100, 2]);
    assert_eq!(after_redelivery.body, after_first.body, "a redelivered batch must be counted once");
}

#[tokio::test]
async fn given_an_sqs_record_without_a_message_id_when_the_batch_arrives_then_the_invocation_fails_and_nothing_applies()
{
    // GIVEN the account and the two entries the batch posts, and the batch with one record's id gone:
    // the partial batch response could not name that record.
    let world = world();
    open_demo_account(&world).await;
    seed_entries(&world).await;
    let mut event: SqsEvent = serde_json::from_str(&sample("sqs/batch.json")).expect("the sample is an SQS event");
    let last = event.records.len() - 1;
    event.records[last].message_id = None;

    // WHEN it arrives.
    let refused = consolidate::handle(&world.api.ledger, event).await.expect_err("a record without an id");

    // THEN the invocation fails, naming the record, so SQS redelivers the whole batch; the day has not moved.
    assert_eq!(refused.index, last);
    let day = run(&world, "apigw-rest/daily-balance.json").await;
    assert_eq!(day_figures(&day.body), [0, 0, 0, 0, 0, 0], "nothing was applied");
}

#[tokio::test]
async fn given_entries_never_consolidated_when_the_schedule_fires_twice_then_each_pass_publishes_them_again() {
    // GIVEN two recorded entries, their outbox rows lost: only reconciliation can find them.
    let world = world();
    open_demo_account(&world).await;
    seed_entries(&world).await;
    let outbox = world.embedded.store.pending(10).await.expect("the outbox answers");
    world.embedded.store.published(outbox.position).await.expect("the outbox forgets them");

    // WHEN the scheduled event fires, and fires again.
    let first = run(&world, "scheduled/relay.json").await;
    let second = run(&world, "scheduled/relay.json").await;

    // THEN each pass puts both postings on the queue, until they are consolidated.
    assert_eq!(first.body["republished"], json!(2), "{}", first.body);
    assert_eq!(second.body["republished"], json!(2), "{}", second.body);
    let queued = world.embedded.queue.receive(10).await.expect("the embedded queue answers");
    let mut ids: Vec<String> = queued
        .iter()
        .map(|d| message::decode(&d.body).expect("relay writes posting messages").entry_id.to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, [SEEDED, SEEDED, SEEDED_DEBIT, SEEDED_DEBIT]);
}

#[tokio::test]
async fn given_recorded_entries_when_relay_drains_the_outbox_twice_then_each_is_published_once() {
    let world = world();
    open_demo_account(&world).await;
    seed_entries(&world).await;
    let first = relay::drain(&world.api.ledger, &world.embedded.store).await.expect("relay");
    let second = relay::drain(&world.api.ledger, &world.embedded.store).await.expect("relay");
    assert_eq!((first.published, second.published), (2, 0));
    let queued = world.embedded.queue.receive(10).await.expect("the embedded queue answers");
    assert_eq!(queued.len(), 2);
}

#[tokio::test]
async fn given_an_unreadable_entry_record_after_a_good_one_then_relay_publishes_the_good_one_and_reports_the_bad() {
    // GIVEN the sample's new entry, then an inserted entry item without an amount.
    let world = world();
    let mut event: DynamoEvent = serde_json::from_str(&sample("dynamodb/stream.json")).expect("a stream event");
    let mut bad = event.records[0].clone();
    bad.change.sequence_number = Some("111100000000000000000009".to_owned());
    let mut image: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> =
        bad.change.new_image.clone().into();
    image.remove("amount");
    bad.change.new_image = image.into();
    event.records.insert(1, bad);
    // WHEN relay handles the batch
    let response = relay::handle_stream(&world.api.ledger, event).await;
    // THEN Lambda is told to retry from the bad record, and the good one is on the queue already.
    let failed: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, [Some("111100000000000000000009".to_owned())]);
    let queued = world.embedded.queue.receive(10).await.expect("the embedded queue answers");
    assert_eq!(queued.len(), 1, "the record before the bad one was published");
}

#[tokio::test]
async fn given_the_stream_sample_when_relay_handles_it_then_only_the_new_entry_reaches_the_queue() {
    let world = world();
    let reply = run(&world, "dynamodb/stream.json").await;
    nothing_failed(&reply);
    let queued = world.embedded.queue.receive(10).await.expect("the embedded queue answers");
    let postings: Vec<_> = queued.iter().map(|d| message::decode(&d.body).expect("a posting")).collect();
    assert_eq!(postings.len(), 1, "the entry's MODIFY and the rollup's INSERT are not relayed");
    assert_eq!(postings[0].entry_id.to_string(), "019ab1a8-7c00-7a3b-9d4e-5f60718293a4");
    assert_eq!((postings[0].amount.minor(), postings[0].business_date), (2500, day()));
}

#[tokio::test]
async fn given_an_api_gateway_stage_in_the_path_when_routed_then_it_is_stripped() {
    // GIVEN the account, and its get-account samples with the stage kept in the path they carry.
    let world = world();
    open_demo_account(&world).await;
    let rest_default = sample_json("apigw-rest/get-account.json");
    let mut rest_staged = rest_default.clone();
    rest_staged["path"] = json!("/prod/v1/accounts/demo");
    let mut http_staged = sample_json("apigw-http/get-account.json");
    http_staged["rawPath"] = json!("/prod/v1/accounts/demo");
    http_staged["requestContext"]["stage"] = json!("prod");

    for event in [rest_default, rest_staged, http_staged] {
        // WHEN routed and handled
        let req = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event");
        let path = request_path(&req);
        let matched = route(&req).expect("the path names a route once the stage is stripped");
        let reply = http(&world.api, &event.to_string()).await;

        // THEN the stage is gone and the account is found.
        assert_eq!(path, "/v1/accounts/demo", "{event}");
        assert_eq!((matched.op(), matched.account().map(|a| a.raw())), (Op::GetAccount, Some("demo")));
        assert_eq!((reply.status, &reply.body["id"]), (200, &json!("demo")), "{}", reply.body);
    }
}

#[tokio::test]
async fn given_no_authorizer_claims_when_calling_in_apigateway_mode_then_401() {
    // GIVEN the account, and samples of both kinds and both functions stripped of their claims.
    let world = world();
    open_demo_account(&world).await;
    let mut events = Vec::new();
    for file in [
        "apigw-rest/get-account.json",
        "apigw-rest/post-entry.json",
        "apigw-http/get-account.json",
        "apigw-http/post-entry.json",
    ] {
        let mut event = sample_json(file);
        remove_authorizer(&mut event);
        events.push((file, event));
    }
    // A REST Lambda authorizer that returned no claims at all.
    let mut no_claims = sample_json("apigw-rest/get-entry.json");
    no_claims["requestContext"]["authorizer"] = json!({ "principalId": "someone" });
    events.push(("apigw-rest/get-entry.json without claims", no_claims));

    for (name, event) in events {
        // WHEN handled
        let reply = http(&world.api, &event.to_string()).await;

        // THEN refused as unauthenticated, as problem+json.
        assert_eq!(reply.status, 401, "{name}: {}", reply.body);
        assert_eq!(reply.body["type"], json!("urn:fluxo:problem:unauthenticated"), "{name}");
        assert_eq!(header(&reply, "www-authenticate"), "Bearer", "{name}");
    }
    let listed = world.api.ledger.entries(&demo(), day(), None, 10).await.expect("the store answers");
    assert!(listed.items.is_empty(), "an unauthenticated post-entry recorded {:?}", listed.items);
}

/// HTTP APIs pass every JWT claim to the function as a string, and write an array claim such as
/// the `accounts: ["demo"]` of Fluxo's own tokens as `[demo]`: bracketed, space separated, unquoted.
#[tokio::test]
async fn given_http_api_flattening_the_accounts_array_claim_when_reading_then_the_grant_holds() {
    // GIVEN the account, and the HTTP API get-account sample with the claim as HTTP APIs write it.
    let world = world();
    open_demo_account(&world).await;
    for rendered in ["[demo]", "[shop demo]"] {
        let mut event = sample_json("apigw-http/get-account.json");
        event["requestContext"]["authorizer"]["jwt"]["claims"]["accounts"] = json!(rendered);

        // WHEN handled
        let reply = http(&world.api, &event.to_string()).await;

        // THEN the caller is granted the demo account.
        assert_eq!(reply.status, 200, "accounts claim {rendered:?}: {}", reply.body);
    }
}

// ---------------------------------------------------------------------------------------------
// Checks of the answers
// ---------------------------------------------------------------------------------------------

fn health(r: &Reply) {
    assert_eq!(r.body, json!({ "status": "ok" }));
}

fn demo_account(r: &Reply) {
    let want = json!({
        "id": "demo",
        "name": "Demo merchant",
        "currency": "BRL",
        "timezone": "America/Sao_Paulo",
        "created_at": NOW,
    });
    assert_eq!(r.body, want);
}

fn coffee_entry(r: &Reply) {
    let id = new_entry_id(r);
    assert_ne!(id, SEEDED);
    assert_eq!(without(&r.body, &["id"]), entry_json("credit", 1500, json!("coffee"), json!(null), json!(null)));
}

fn reversal_of_seeded(r: &Reply) {
    new_entry_id(r);
    assert_eq!(without(&r.body, &["id"]), entry_json("debit", 1500, json!(null), json!(SEEDED), json!(null)));
}

fn already_reversed(r: &Reply) {
    assert_eq!(header(r, "content-type"), "application/problem+json");
    let want = json!({
        "type": "urn:fluxo:problem:conflict",
        "title": "Conflict",
        "status": 409,
        "detail": "the entry was already reversed",
    });
    assert_eq!(r.body, want);
}

fn seeded_and_reversed(r: &Reply) {
    let reversed_by = r.body["reversed_by"].as_str().expect("the seeded entry names its reversal");
    EntryId::parse(reversed_by).expect("the reversal's id is a UUIDv7");
    assert_eq!(r.body["id"], json!(SEEDED));
    let want = entry_json("credit", 1500, json!("seeded sale"), json!(null), json!(reversed_by));
    assert_eq!(without(&r.body, &["id"]), want);
}

/// The two seeded entries, the two coffees and the reversal, in id order, on one page.
fn the_days_five_entries(r: &Reply) {
    assert_eq!(r.body["next_cursor"], json!(null));
    let items = r.body["items"].as_array().expect("a listing has items");
    let ids: Vec<&str> = items.iter().map(|e| e["id"].as_str().expect("an entry has an id")).collect();
    assert_eq!(ids.len(), 5, "{ids:?}");
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "entries are listed in id order: {ids:?}");
    let by_id = |id: &str| items.iter().find(|e| e["id"] == json!(id)).expect("the entry is listed");
    let reversal = items.iter().find(|e| e["reverses"] == json!(SEEDED)).expect("the reversal is listed");
    assert_eq!(by_id(SEEDED)["reversed_by"], reversal["id"]);
    assert_eq!((&by_id(SEEDED_DEBIT)["type"], &by_id(SEEDED_DEBIT)["amount"]), (&json!("debit"), &json!(400)));
    assert_eq!(items.iter().filter(|e| e["description"] == json!("coffee")).count(), 2);
    assert!(items.iter().all(|e| e["business_date"] == json!(DAY)));
}

fn only_the_poison_failed(r: &Reply) {
    assert_eq!(r.body, json!({ "batchItemFailures": [{ "itemIdentifier": POISON_MESSAGE_ID }] }));
}

/// Only the two postings of the SQS sample moved the day: a 1500 credit and a 400 debit.
fn the_day_after_the_batch(r: &Reply) {
    let want = json!({
        "account_id": "demo",
        "currency": "BRL",
        "date": DAY,
        "opening_balance": 0,
        "credits": 1500,
        "debits": 400,
        "net": 1100,
        "closing_balance": 1100,
        "entry_count": 2,
        "as_of": NOW,
    });
    assert_eq!(r.body, want);
}

fn november_after_the_batch(r: &Reply) {
    let head = without(&r.body, &["days"]);
    let want =
        json!({ "account_id": "demo", "currency": "BRL", "from": "2026-11-01", "to": "2026-11-30", "as_of": NOW });
    assert_eq!(head, want);
    let days = r.body["days"].as_array().expect("a range has days");
    assert_eq!(days.len(), 30);
    assert_eq!((&days[0]["date"], day_figures(&days[0])), (&json!("2026-11-01"), [0, 0, 0, 0, 0, 0]));
    assert_eq!((&days[22]["date"], day_figures(&days[22])), (&json!(DAY), [0, 1500, 400, 1100, 1100, 2]));
    assert_eq!((&days[29]["date"], day_figures(&days[29])), (&json!("2026-11-30"), [1100, 0, 0, 0, 1100, 0]));
}

fn three_republished(r: &Reply) {
    assert_eq!(r.body["republished"], json!(3), "{}", r.body);
    assert_eq!(r.body["accounts"], json!(1), "{}", r.body);
}

fn two_of_the_batch_recorded(r: &Reply) {
    assert_batch(r, [201, 201, 422], false);
}

fn the_batch_replayed(r: &Reply) {
    assert_batch(r, [200, 200, 422], true);
}

/// The post-batch samples' answer: the sale and the change recorded (or replayed), the entry of
/// amount 0 refused naming its field.
fn assert_batch(r: &Reply, statuses: [u16; 3], replayed: bool) {
    let results = r.body["results"].as_array().unwrap_or_else(|| panic!("no results in {}", r.body));
    let got: Vec<Value> = results.iter().map(|r| r["status"].clone()).collect();
    assert_eq!(got, statuses.map(|s| json!(s)), "{}", r.body);
    let entries =
        [("credit", 1200, "pão de queijo", "2026-11-23T11:15:00Z"), ("debit", 350, "troco", "2026-11-23T11:20:00Z")];
    for (result, (kind, amount, description, occurred_at)) in results.iter().zip(entries) {
        EntryId::parse(result["entry"]["id"].as_str().expect("an id")).expect("entry ids are UUIDv7");
        let mut want = entry_json(kind, amount, json!(description), json!(null), json!(null));
        want["occurred_at"] = json!(occurred_at);
        assert_eq!(without(&result["entry"], &["id"]), want, "{result}");
        assert_eq!(result.get("replayed").is_some_and(|v| v == true), replayed, "{result}");
    }
    assert_eq!(results[2]["problem"]["errors"][0]["field"], "amount", "{}", r.body);
}

fn nothing_failed(r: &Reply) {
    assert_eq!(r.body, json!({ "batchItemFailures": [] }));
}

/// The id of a new entry, checked against its `Location`.
fn new_entry_id(r: &Reply) -> String {
    let id = r.body["id"].as_str().expect("a new entry has an id").to_owned();
    EntryId::parse(&id).expect("entry ids are UUIDv7");
    assert_eq!(header(r, "location"), format!("/v1/accounts/demo/entries/{id}"));
    id
}

/// An entry of the demo account recorded at [`NOW`], without its id.
fn entry_json(kind: &str, amount: i64, description: Value, reverses: Value, reversed_by: Value) -> Value {
    json!({
        "account_id": "demo",
        "type": kind,
        "amount": amount,
        "currency": "BRL",
        "description": description,
        "occurred_at": NOW,
        "business_date": DAY,
        "recorded_at": NOW,
        "reverses": reverses,
        "reversed_by": reversed_by,
    })
}

/// Opening, credits, debits, net, closing and entry count of a day view.
fn day_figures(day: &Value) -> [i64; 6] {
    ["opening_balance", "credits", "debits", "net", "closing_balance", "entry_count"]
        .map(|k| day[k].as_i64().unwrap_or_else(|| panic!("{k} is an integer in {day}")))
}

fn without(body: &Value, keys: &[&str]) -> Value {
    let mut object = body.as_object().expect("the answer is a JSON object").clone();
    for key in keys {
        object.remove(*key);
    }
    Value::Object(object)
}

fn header<'a>(r: &'a Reply, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The world the samples run in
// ---------------------------------------------------------------------------------------------

/// A clock held still, so business dates and `as_of` are known.
struct FixedClock(Timestamp);

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        self.0
    }
}

/// The functions' state over a fresh embedded store, in `apigateway` auth mode.
struct World {
    api: ApiState,
    embedded: Embedded,
    _dir: TempDir,
}

fn world() -> World {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let data_dir = dir.path().join("data").to_string_lossy().into_owned();
    let settings = Settings::from_lookup(|name| match name {
        "FLUXO_DATA_DIR" => Some(data_dir.clone()),
        "FLUXO_AUTH" => Some("apigateway".to_owned()),
        // Entries are overdue for reconciliation as soon as they are recorded: this clock never moves.
        "FLUXO_RECONCILE_GRACE" => Some("0s".to_owned()),
        _ => None,
    })
    .expect("the test settings parse");
    let mut embedded = Embedded::open(&settings).expect("the embedded store opens in a temporary directory");
    embedded.ledger.clock = Arc::new(FixedClock(now()));
    let api = embedded.api(&settings).expect("apigateway mode needs no secret");
    World { api, embedded, _dir: dir }
}

fn now() -> Timestamp {
    NOW.parse().expect("NOW is an RFC 3339 instant")
}

fn day() -> Date {
    date(2026, 11, 23)
}

fn demo() -> AccountId {
    AccountId::parse("demo").expect("a valid account id")
}

/// Creates the demo account as the put-account samples describe it.
async fn open_demo_account(world: &World) {
    let name = AccountName::parse("Demo merchant").expect("a valid name");
    let currency = Currency::parse("BRL").expect("a known currency");
    let zone = Zone::parse("America/Sao_Paulo").expect("a known zone");
    world.api.ledger.put_account(demo(), name, currency, zone).await.expect("the account is created");
}

/// Records the entries the samples name, as ingest would have but without publishing them: a 1500
/// credit ([`SEEDED`]) and a 400 debit ([`SEEDED_DEBIT`]), matching the SQS sample's postings.
async fn seed_entries(world: &World) {
    for (id, kind, amount, description) in
        [(SEEDED, EntryType::Credit, 1500, "seeded sale"), (SEEDED_DEBIT, EntryType::Debit, 400, "seeded refund")]
    {
        let new = seeded_entry(id, kind, amount, description);
        let recorded = world.api.ledger.store.record(&new).await.expect("the store records the seed");
        assert_eq!(recorded, Recorded::New, "{id} was seeded before");
    }
}

fn seeded_entry(id: &str, kind: EntryType, amount: i64, description: &str) -> NewEntry {
    let entry = Entry {
        id: EntryId::parse(id).expect("seed ids are UUIDv7"),
        account_id: demo(),
        kind,
        amount: Amount::from_minor(amount).expect("a positive amount"),
        currency: Currency::parse("BRL").expect("a known currency"),
        description: Some(Description::parse(description).expect("a short description")),
        occurred_at: now(),
        business_date: day(),
        recorded_at: now(),
        reverses: None,
        reversed_by: None,
    };
    let response = StoredResponse {
        fingerprint: Fingerprint::of(&["seed", id]),
        body: "{}".to_owned(),
        location: format!("/v1/accounts/demo/entries/{id}"),
    };
    let key = IdempotencyKey::parse(&format!("seed-{id}")).expect("a printable key");
    NewEntry { entry, key, response }
}

// ---------------------------------------------------------------------------------------------
// Running a sample
// ---------------------------------------------------------------------------------------------

/// What a function answered, in one shape for every trigger. SQS and scheduled runs answer 200 with
/// the function's JSON output, or 500 with its error.
struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn output(status: u16, body: Value) -> Self {
        Self { status, headers: HeaderMap::new(), body }
    }
}

impl Expect {
    async fn verify(&self, world: &World) {
        let reply = run(world, self.file).await;
        assert_eq!(reply.status, self.status, "{}: answered {}", self.file, reply.body);
        eprintln!("checking the answer to {}", self.file);
        (self.check)(&reply);
    }
}

/// Runs a sample through the function its folder names.
async fn run(world: &World, file: &str) -> Reply {
    let json = sample(file);
    match file.split_once('/').map(|(folder, _)| folder) {
        Some(kind @ ("apigw-rest" | "apigw-http")) => {
            assert_payload_kind(kind, &json);
            http(&world.api, &json).await
        }
        Some("sqs") => sqs(world, &json).await,
        Some("scheduled") => scheduled(world, &json).await,
        Some("dynamodb") => stream(world, &json).await,
        _ => panic!("{file}: no function takes events from this folder"),
    }
}

/// Hands an API Gateway event to `ingest` or `report`, as the API's routes do.
async fn http(api: &ApiState, json: &str) -> Reply {
    let req = lambda_http::request::from_str(json).expect("lambda_http accepts the sample as an API Gateway event");
    let to_ingest = route(&req).expect("every sample names a route").op().is_ingest();
    let response = if to_ingest { ingest::handle(api, req).await } else { report::handle(api, req).await };
    let body: &[u8] = response.body().as_ref();
    let body = if body.is_empty() { Value::Null } else { serde_json::from_slice(body).expect("handlers answer JSON") };
    Reply { status: response.status().as_u16(), headers: response.headers().clone(), body }
}

async fn sqs(world: &World, json: &str) -> Reply {
    let event: SqsEvent = serde_json::from_str(json).expect("the sample is an SQS event");
    let response = consolidate::handle(&world.api.ledger, event).await.expect("every record has a message id");
    Reply::output(200, serde_json::to_value(&response).expect("a batch response serialises"))
}

async fn scheduled(world: &World, json: &str) -> Reply {
    let _: CloudWatchEvent = serde_json::from_str(json).expect("the sample is an EventBridge event");
    match relay::reconcile(&world.api.ledger).await {
        Ok(report) => Reply::output(200, serde_json::to_value(report).expect("a relay report serialises")),
        Err(error) => Reply::output(500, json!(error.to_string())),
    }
}

async fn stream(world: &World, json: &str) -> Reply {
    let event: DynamoEvent = serde_json::from_str(json).expect("the sample is a DynamoDB stream event");
    let response = relay::handle_stream(&world.api.ledger, event).await;
    Reply::output(200, serde_json::to_value(&response).expect("a stream response serialises"))
}

/// A REST sample must read as a v1 payload and an HTTP API sample as a v2 one.
fn assert_payload_kind(folder: &str, json: &str) {
    let req = lambda_http::request::from_str(json).expect("lambda_http accepts the sample");
    let kind = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(_)) => "apigw-rest",
        Some(RequestContext::ApiGatewayV2(_)) => "apigw-http",
        _ => "another payload",
    };
    assert_eq!(kind, folder, "a sample in {folder}/ parsed as {kind}");
}

fn remove_authorizer(event: &mut Value) {
    event["requestContext"].as_object_mut().expect("a request context").remove("authorizer");
}

fn sample(file: &str) -> String {
    let path = Path::new(EVENTS_DIR).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn sample_json(file: &str) -> Value {
    serde_json::from_str(&sample(file)).expect("samples are JSON")
}

/// Every file under `events/`, as paths relative to it with `/` separators.
fn event_files() -> BTreeSet<String> {
    let root = Path::new(EVENTS_DIR);
    let mut found = BTreeSet::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for item in std::fs::read_dir(&folder).expect("events/ and its folders are readable") {
            let path = item.expect("a readable folder entry").path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("found under events/");
                found.insert(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found
}
