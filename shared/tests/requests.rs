//! Requests per entry against the emulator: what ingest, consolidation and reports cost in DynamoDB
//! and SQS requests, counted by an interceptor on the real clients. The bounds here are the ones the
//! cost model in the README rests on.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fluxo_test_support::emulator as support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use fluxo::adapters::aws::{RequestCounter, ensure_queues, ensure_table};
use fluxo::config::{Settings, Wiring};
use fluxo::domain::account::{AccountId, AccountName, Currency, Zone};
use fluxo::domain::calendar::DateRange;
use fluxo::domain::entry::{Entry, EntryType};
use fluxo::domain::idempotency::IdempotencyKey;
use fluxo::domain::money::Amount;
use fluxo::ledger::{EntryRequest, Ledger};
use fluxo::ports::{Applied, Inbox};
use fluxo::readiness::{Check, Connections, Opened, connect};

struct Counted {
    ledger: Ledger,
    inbox: Arc<dyn Inbox>,
    counter: RequestCounter,
    account: AccountId,
}

async fn counted() -> Option<Counted> {
    let url = support::moto_url()?;
    let counter = RequestCounter::default();
    let clients = support::clients(&url, Some(&counter));
    let table = support::unique("ledger");
    let queue = support::unique("entries");
    ensure_table(&clients.dynamodb, &table).await.expect("table");
    let urls = ensure_queues(&clients.sqs, &queue, 5, 30).await.expect("queues");
    let (table_c, url_c) = (table.clone(), urls.queue.clone());
    let settings = Settings::from_lookup(move |name| match name {
        "FLUXO_BACKEND" => Some("aws".into()),
        "FLUXO_TABLE" => Some(table_c.clone()),
        "FLUXO_QUEUE_URL" => Some(url_c.clone()),
        _ => None,
    })
    .expect("settings");
    let Wiring { ledger, inbox, .. } = Wiring::aws(&settings, &clients).await.expect("backend");
    let account = AccountId::parse("hot-shop").expect("id");
    let (name, currency, zone) = (
        AccountName::parse("Hot shop").expect("name"),
        Currency::parse("BRL").expect("currency"),
        Zone::parse("UTC").expect("zone"),
    );
    ledger.put_account(account.clone(), name, currency, zone).await.expect("account");
    Some(Counted { ledger, inbox, counter, account })
}

fn credit() -> EntryRequest {
    EntryRequest {
        kind: EntryType::Credit,
        amount: Amount::from_minor(100).expect("amount"),
        description: None,
        occurred_at: None,
        currency: None,
    }
}

fn total(counts: &BTreeMap<String, u64>, service: &str) -> u64 {
    counts.iter().filter(|(k, _)| k.starts_with(service)).map(|(_, v)| v).sum()
}

fn writes(counts: &BTreeMap<String, u64>) -> u64 {
    let write_ops = ["TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"];
    counts.iter().filter(|(k, _)| write_ops.iter().any(|op| k.ends_with(op))).map(|(_, v)| v).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_one_entry_takes_one_put_and_its_replay_one_put() {
    let Some(c) = counted().await else { return };
    let key = |raw: &str| IdempotencyKey::parse(raw).expect("key");
    c.ledger.record_entry(&c.account, key("first"), credit()).await.expect("the first reads the account");
    c.counter.reset();
    c.ledger.record_entry(&c.account, key("one"), credit()).await.expect("record");
    let counts = c.counter.snapshot();
    eprintln!("ingest, one entry: {counts:?}");
    assert_eq!(total(&counts, "DynamoDB"), 1, "one conditional PutItem, the account cached: {counts:?}");
    assert_eq!(counts.get("DynamoDB.PutItem"), Some(&1), "{counts:?}");
    assert_eq!(total(&counts, "SQS"), 0, "recording does not touch the queue: {counts:?}");
    c.counter.reset();
    let replay = c.ledger.record_entry(&c.account, key("one"), credit()).await.expect("replay");
    assert!(replay.replayed);
    let counts = c.counter.snapshot();
    eprintln!("ingest, a replayed key: {counts:?}");
    assert_eq!(total(&counts, "DynamoDB"), 1, "the failed condition returns the stored entry: {counts:?}");
    assert_eq!(total(&counts, "SQS"), 0, "a replay publishes nothing: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consolidating_100_entries_of_one_account_and_day_takes_a_dozen_requests() {
    let Some(c) = counted().await else { return };
    for i in 0..100 {
        c.ledger
            .record_entry(&c.account, IdempotencyKey::parse(&format!("k{i}")).expect("key"), credit())
            .await
            .expect("record");
    }
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    let mut postings = Vec::new();
    let mut after = None;
    loop {
        let page = c.ledger.entries(&c.account, today, after, 500).await.expect("list");
        postings.extend(page.items.iter().map(Entry::posting));
        after = page.more_after;
        if after.is_none() {
            break;
        }
    }
    assert_eq!(postings.len(), 100);
    c.counter.reset();
    let outcomes = c.ledger.consolidate(&postings).await.expect("consolidate");
    assert!(outcomes.iter().all(|o| *o == Applied::Applied), "{outcomes:?}");
    let counts = c.counter.snapshot();
    eprintln!("consolidation, 100 entries of one account and day: {counts:?}");
    // Two rounds of 50: each reads its lock, reads entries, marks and rollups in two BatchGetItem
    // (over 100 keys), commits one transaction and writes its 50 marks in two BatchWriteItem; the
    // account's first round also reads its months by two queries, the second by key.
    let per_entry = writes(&counts) as f64 / 100.0;
    assert!(per_entry <= 0.1, "{per_entry} write requests per entry: {counts:?}");
    assert!(total(&counts, "DynamoDB") <= 14, "reads and marks are batched: {counts:?}");
    assert_eq!(counts.get("DynamoDB.Query"), Some(&2), "only the first round queries its months: {counts:?}");

    let range = DateRange::new(today, today).expect("range");
    let (_, days, _) = c.ledger.daily(&c.account, range).await.expect("daily");
    assert_eq!((days[0].credits, days[0].entry_count), (10_000, 100), "every entry counted once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_report_and_a_31_day_range_take_two_requests_each() {
    let Some(c) = counted().await else { return };
    let today = jiff::Timestamp::now().to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
    c.ledger.account(&c.account).await.expect("the account is read once per execution environment");
    for (from, to) in [(today, today), (today.checked_sub(jiff::Span::new().days(30)).expect("date"), today)] {
        c.counter.reset();
        let range = DateRange::new(from, to).expect("range");
        c.ledger.daily(&c.account, range).await.expect("report");
        let counts = c.counter.snapshot();
        eprintln!("report {from}..{to}: {counts:?}");
        assert_eq!(total(&counts, "DynamoDB"), 2, "Query prior month, Query days, the account cached: {counts:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_the_connections_at_init_reads_one_absent_item_and_the_queue_attributes() {
    let Some(c) = counted().await else { return };
    let within = Duration::from_secs(5);
    c.counter.reset();
    let opened = connect(&c.ledger, c.inbox.as_ref(), Connections::Store, within).await;
    assert_eq!(opened, Opened { store: Check::Ok, queue: None });
    let counts = c.counter.snapshot();
    assert_eq!(counts, BTreeMap::from([("DynamoDB.GetItem".to_owned(), 1)]), "the queue is left alone");
    c.counter.reset();
    let opened = connect(&c.ledger, c.inbox.as_ref(), Connections::StoreAndQueue, within).await;
    assert_eq!(opened, Opened { store: Check::Ok, queue: Some(Check::Ok) });
    let counts = c.counter.snapshot();
    let expected = [("DynamoDB.GetItem".to_owned(), 1), ("SQS.GetQueueAttributes".to_owned(), 1)];
    assert_eq!(counts, BTreeMap::from(expected), "nothing written, one request each");
}
