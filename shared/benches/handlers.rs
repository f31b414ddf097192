//! Handler CPU per request, with in-memory ports: the real handlers run end to end in process, as
//! the Lambda runtime calls them (an API Gateway REST request into `ingest::handle` and
//! `report::handle`, an SQS event into `consolidate::handle`), over [`MemoryStore`] and
//! [`MemoryQueue`], so every microsecond measured is Fluxo's own: routing, authentication (HS256 JWT
//! verification, or claims from the authorizer context), JSON parsing and rendering, the domain,
//! and the ports' bookkeeping. No network, disk or SQLite is on the path.
//!
//! What is left out: the runtime's deserialising of the event into a request (it happens before the
//! handler is called) and log output (no tracing subscriber is installed, so log lines cost only
//! their level check). Every input is built in an untimed setup (`iter_batched`); each scenario's
//! answer is checked once before it is measured, so a refusal cannot pass for a fast request.
//!
//! Run with `make bench-cpu` (`cargo bench -p fluxo-shared --bench handlers`); the figures and what
//! they mean are in `BENCHMARKS.md`.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fluxo::adapters::memory::{MemoryQueue, MemoryStore};
use fluxo::auth::{Authenticator, Scope, TokenBinding};
use fluxo::domain::account::{AccountId, AccountName, Currency, Zone};
use fluxo::domain::entry::EntryType;
use fluxo::handlers::{ApiState, consolidate, ingest, report};
use fluxo::ledger::{Ledger, RelayPolicy};
use fluxo::message;
use fluxo::ports::{BalanceStore, LedgerStore, NewEntry, Recorded, SystemClock};
use fluxo_test_support::rig::new_entry;
use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use lambda_http::{Body, Request, Response};
use serde_json::{Value, json};
use tokio::runtime::Runtime;

const EVENTS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../events");
const SECRET: &[u8] = b"fluxo-bench-secret-of-32-bytes!!";
const ACCOUNT: &str = "demo";
/// The day the report samples ask for; the seeded history runs up to it.
const REPORT_DAY: Date = date(2026, 11, 23);
/// The first day of the seeded history: three months of entries before [`REPORT_DAY`].
const HISTORY_FROM: Date = date(2026, 9, 1);
const ENTRIES_PER_DAY: i64 = 20;
/// Messages per consolidation batch: the SQS event source's batch size in `infra/`.
const BATCH: usize = 100;
/// The day the consolidation batches post to.
const BATCH_DAY: Date = date(2026, 11, 23);

/// How a function learns its caller: `FLUXO_AUTH=jwt` or `FLUXO_AUTH=apigateway`.
#[derive(Debug, Clone, Copy)]
enum Auth {
    Jwt,
    ApiGateway,
}

impl Auth {
    fn name(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::ApiGateway => "apigateway",
        }
    }
}

/// The functions' state over in-memory ports, with the demo account.
struct World {
    api: ApiState,
    store: MemoryStore,
}

fn world(auth: Auth) -> World {
    let store = MemoryStore::new();
    let ledger = Ledger::new(
        Arc::new(store.clone()),
        Arc::new(store.clone()),
        Arc::new(MemoryQueue::default()),
        Arc::new(SystemClock),
        RelayPolicy::default(),
    );
    let auth = match auth {
        Auth::Jwt => Authenticator::jwt(SECRET, &TokenBinding::default()),
        Auth::ApiGateway => Authenticator::ApiGateway,
    };
    let api = ApiState { ledger, auth };
    let opened = ready(api.ledger.put_account(
        demo(),
        AccountName::parse("Demo merchant").expect("a valid name"),
        Currency::parse("BRL").expect("a known currency"),
        Zone::parse("America/Sao_Paulo").expect("a known zone"),
    ));
    opened.expect("the demo account opens");
    World { api, store }
}

fn demo() -> AccountId {
    AccountId::parse(ACCOUNT).expect("a valid account id")
}

/// Runs a future of the in-memory ports to completion. They never wait, so one poll finishes it;
/// setup code runs inside criterion's executor and cannot start another.
fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("an in-memory port suspended; the benchmark assumes they never wait"),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// A REST API (v1 payload) sample from `events/`, authenticated the way `auth` expects: the
/// authorizer's claims for `apigateway`, or a bearer token (and no authorizer) for `jwt`.
fn sample(file: &str, auth: Auth) -> Value {
    let path = Path::new(EVENTS_DIR).join("apigw-rest").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut event: Value = serde_json::from_str(&text).expect("samples are JSON");
    if let Auth::Jwt = auth {
        let token = fluxo::auth::issue(
            SECRET,
            &TokenBinding::default(),
            "bench",
            &[ACCOUNT.to_owned()],
            &[Scope::Read, Scope::Write],
            SignedDuration::from_hours(24),
        )
        .expect("an HS256 token signs");
        event["requestContext"].as_object_mut().expect("a request context").remove("authorizer");
        set_header(&mut event, "Authorization", &format!("Bearer {token}"));
    }
    event
}

fn set_header(event: &mut Value, name: &str, value: &str) {
    event["headers"][name] = json!(value);
    event["multiValueHeaders"][name] = json!([value]);
}

fn set_query(event: &mut Value, pairs: &[(&str, &str)]) {
    for (name, value) in pairs {
        event["queryStringParameters"][*name] = json!(value);
        event["multiValueQueryStringParameters"][*name] = json!([value]);
    }
}

/// The request the Lambda runtime would hand the function for this event.
fn request(event: &str) -> Request {
    lambda_http::request::from_str(event).expect("lambda_http accepts the event")
}

fn body_json(response: &Response<Body>) -> Value {
    serde_json::from_slice(response.body().as_ref()).expect("handlers answer JSON")
}

// ---------------------------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------------------------

/// A credit of 15.00 or a debit of 4.00, alternately: a till's day.
fn nth_entry(day: Date, n: u64) -> NewEntry {
    let (kind, amount) = if n.is_multiple_of(2) { (EntryType::Credit, 1500) } else { (EntryType::Debit, 400) };
    new_entry(&demo(), &format!("seed-{n}"), kind, amount, day)
}

/// Records and consolidates [`ENTRIES_PER_DAY`] entries a day from [`HISTORY_FROM`] to
/// [`REPORT_DAY`], so balances read a monthly rollup and a month of daily rows.
fn seed_history(world: &World) {
    let mut n = 0u64;
    for day in HISTORY_FROM.series(jiff::Span::new().days(1)).take_while(|d| *d <= REPORT_DAY) {
        let mut postings = Vec::new();
        for _ in 0..ENTRIES_PER_DAY {
            let new = nth_entry(day, n);
            n += 1;
            assert_eq!(ready(world.store.record(&new)).expect("the store records"), Recorded::New);
            postings.push(new.entry.posting());
        }
        ready(world.store.apply(&postings, Timestamp::now())).expect("the store applies");
    }
}

/// Records [`BATCH`] fresh entries and returns the SQS event that carries their postings, shaped
/// as the event source mapping delivers it.
fn sqs_batch(world: &World, next: &AtomicU64) -> SqsEvent {
    let records: Vec<Value> = (0..BATCH)
        .map(|_| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            let new = nth_entry(BATCH_DAY, n);
            let recorded = ready(world.store.record(&new)).expect("the store records");
            assert_eq!(recorded, Recorded::New, "batch keys are fresh");
            json!({
                "messageId": uuid::Uuid::now_v7().to_string(),
                "receiptHandle": format!("AQEBbenchReceiptHandle{n}/fluxo-entries=="),
                "body": message::encode(&new.entry.posting()).expect("encoded"),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795435200000",
                    "SenderId": "AROAEXAMPLEROLEID:ingest",
                    "ApproximateFirstReceiveTimestamp": "1795435200015",
                },
                "messageAttributes": {},
                "md5OfBody": "da024d9ce2456ca213532ee352e0e853",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:fluxo-entries",
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("an SQS event")
}

// ---------------------------------------------------------------------------------------------
// Benchmarks
// ---------------------------------------------------------------------------------------------

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

/// `POST /v1/accounts/demo/entries` with a fresh `Idempotency-Key` each time: a new entry recorded
/// and published.
fn bench_ingest(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("ingest");
    for auth in [Auth::Jwt, Auth::ApiGateway] {
        let world = world(auth);
        let mut event = sample("post-entry.json", auth);
        set_header(&mut event, "Idempotency-Key", "@KEY@");
        let template = event.to_string();
        let next = AtomicU64::new(0);
        let fresh = || {
            let n = next.fetch_add(1, Ordering::Relaxed);
            request(&template.replace("@KEY@", &format!("bench-{n}")))
        };

        let first = rt.block_on(ingest::handle(&world.api, fresh()));
        assert_eq!(first.status(), 201, "{auth:?}: {}", body_json(&first));
        assert_eq!(body_json(&first)["amount"], json!(1500));

        let api = &world.api;
        group.bench_function(format!("record_entry/{}", auth.name()), |b| {
            b.to_async(&rt).iter_batched(&fresh, |req| ingest::handle(api, req), BatchSize::SmallInput)
        });
    }
    group.finish();
}

/// An SQS batch of [`BATCH`] postings of one account and day, each entry recorded and not applied.
fn bench_consolidate(c: &mut Criterion) {
    let rt = runtime();
    let world = world(Auth::ApiGateway);
    let next = AtomicU64::new(1_000_000);

    let before = ready(world.store.history(&demo(), BATCH_DAY, BATCH_DAY)).expect("history");
    let response = rt.block_on(consolidate::handle(&world.api.ledger, sqs_batch(&world, &next))).expect("identified");
    assert!(response.batch_item_failures.is_empty(), "every posting applies");
    let after = ready(world.store.history(&demo(), BATCH_DAY, BATCH_DAY)).expect("history");
    let moved = |h: &fluxo::domain::balance::BalanceHistory| h.days.get(&BATCH_DAY).map_or(0, |m| m.entry_count);
    assert_eq!(moved(&after) - moved(&before), BATCH as i64, "the day counts the batch once");

    let mut group = c.benchmark_group("consolidate");
    group.throughput(Throughput::Elements(BATCH as u64));
    let ledger = &world.api.ledger;
    group.bench_function("sqs_batch_100", |b| {
        b.to_async(&rt).iter_batched(
            || sqs_batch(&world, &next),
            |event| consolidate::handle(ledger, event),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

/// `GET .../balances/daily/2026-11-23` and `GET .../balances/daily?from=2026-10-24&to=2026-11-23`
/// over three months of consolidated history.
fn bench_report(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("report");
    for auth in [Auth::Jwt, Auth::ApiGateway] {
        let world = world(auth);
        seed_history(&world);
        let daily = sample("daily-balance.json", auth).to_string();
        let mut range = sample("balance-range.json", auth);
        set_query(&mut range, &[("from", "2026-10-24"), ("to", "2026-11-23")]);
        let range = range.to_string();

        let day = rt.block_on(report::handle(&world.api, request(&daily)));
        assert_eq!(day.status(), 200, "{auth:?}: {}", body_json(&day));
        let expected_count = ENTRIES_PER_DAY;
        assert_eq!(body_json(&day)["entry_count"], json!(expected_count));
        let days = rt.block_on(report::handle(&world.api, request(&range)));
        assert_eq!(days.status(), 200, "{auth:?}: {}", body_json(&days));
        assert_eq!(body_json(&days)["days"].as_array().map(Vec::len), Some(31));

        let api = &world.api;
        group.bench_function(format!("daily_balance/{}", auth.name()), |b| {
            b.to_async(&rt).iter_batched(|| request(&daily), |req| report::handle(api, req), BatchSize::SmallInput)
        });
        group.bench_function(format!("range_31_days/{}", auth.name()), |b| {
            b.to_async(&rt).iter_batched(|| request(&range), |req| report::handle(api, req), BatchSize::SmallInput)
        });
    }
    group.finish();
}

fn config() -> Criterion {
    // Short runs keep `make bench` quick; the spread criterion reports shows they are long enough.
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = handlers;
    config = config();
    targets = bench_ingest, bench_consolidate, bench_report
}
criterion_main!(handlers);
