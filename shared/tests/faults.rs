//! Fault injection to quiescence, over the real queue and each store (the embedded SQLite store and
//! queue; DynamoDB and SQS through the moto emulator, behind a proxy that throttles and loses answers;
//! the in-memory store and queue).
//!
//! Each scenario injects one fault through the ports or the network, then runs relay and the queue
//! until nothing moves, and audits the books: every entry answered 201 is in exactly one daily
//! balance, every balance equals the sum of its listed entries, the poison message sent in each
//! scenario is in the dead-letter queue and nothing else is.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::time::Duration;

use fluxo::adapters::aws::ATTEMPTS_MAX;
use fluxo::domain::account::{AccountId, AccountName, Currency, Zone};
use fluxo::domain::calendar::DateRange;
use fluxo::domain::entry::Entry;
use fluxo::domain::idempotency::IdempotencyKey;
use fluxo::handlers::consolidate;
use fluxo::ledger::LedgerError;
use fluxo::ports::PortError;
use fluxo_test_support::faults::ports::Link;
use fluxo_test_support::per_backend;
use fluxo_test_support::rig::{Backend, Queue, Rig, Seat, TODAY, hold_lock, request};

/// A rig over `backend` and its real queue; `None` when the emulator is not installed (outside CI
/// only: under `CI=true` a missing emulator fails).
async fn rig(backend: Backend) -> Option<Rig> {
    Rig::over(backend, Queue::Real).await
}

/// Waits, boundedly, until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

// Each scenario over the embedded store and queue, and over DynamoDB and SQS on moto.
per_backend!(
    [embedded => Embedded, dynamodb => Dynamo]
    [
        given_the_queue_is_down_while_entries_are_recorded_then_relay_brings_every_entry_in_once,
        given_relay_dies_between_publishing_and_acknowledging_then_the_postings_come_again_and_count_once,
        given_the_consumer_dies_mid_batch_then_the_redelivered_batch_counts_each_entry_once,
        given_messages_delivered_twice_and_five_times_then_each_entry_counts_once,
        given_the_store_throttles_for_a_while_then_retries_ride_it_out,
    ]
);

// The in-memory store and queue the benchmarks use, under the faults that do not need a network or
// a lock: it has neither.
per_backend!(
    [memory => Memory]
    [
        given_the_queue_is_down_while_entries_are_recorded_then_relay_brings_every_entry_in_once,
        given_relay_dies_between_publishing_and_acknowledging_then_the_postings_come_again_and_count_once,
        given_the_consumer_dies_mid_batch_then_the_redelivered_batch_counts_each_entry_once,
        given_messages_delivered_twice_and_five_times_then_each_entry_counts_once,
    ]
);

async fn given_the_queue_is_down_while_entries_are_recorded_then_relay_brings_every_entry_in_once(backend: Backend) {
    let Some(rig) = rig(backend).await else { return };
    rig.link.set(Link::Down);
    rig.post("a", 700, 0).await;
    rig.post("b", -200, 1).await;
    rig.post("c", 50, 3).await;
    assert!(rig.relay_once().await.is_err(), "relay cannot publish while the queue is down");
    assert_eq!(rig.inbox().depths().await.expect("depths").visible, 0, "nothing reached the queue");
    rig.link.set(Link::Up);
    rig.post("d", 5, 0).await;
    rig.settle_and_audit().await;
}

async fn given_relay_dies_between_publishing_and_acknowledging_then_the_postings_come_again_and_count_once(
    backend: Backend,
) {
    let Some(rig) = rig(backend).await else { return };
    rig.post("a", 300, 0).await;
    rig.post("b", -90, 2).await;
    rig.relay_dies().await.expect("published before dying");
    assert_eq!(rig.inbox().depths().await.expect("depths").visible, 2, "the postings were published");
    assert!(rig.relay_all().await > 0, "unacknowledged, they are relayed again");
    assert_eq!(rig.inbox().depths().await.expect("depths").visible, 4, "two copies of each");
    rig.settle_and_audit().await;
}

async fn given_the_consumer_dies_mid_batch_then_the_redelivered_batch_counts_each_entry_once(backend: Backend) {
    let Some(rig) = rig(backend).await else { return };
    for (i, days_back) in [0, 0, 1, 1, 2, 5].into_iter().enumerate() {
        rig.post(&format!("k{i}"), 100 + i64::try_from(i).expect("i"), days_back).await;
    }
    rig.relay_all().await;
    let batch = rig.inbox().receive(10).await.expect("receive");
    assert!(!batch.is_empty(), "the entries are queued");
    rig.consumer.die_after(batch.len() / 2);
    let consumer = tokio::spawn({
        let (ledger, inbox) = (rig.ledger.clone(), rig.inbox().clone());
        async move { consolidate::consume(&ledger, inbox.as_ref(), &batch).await }
    });
    until("the consumer applied part of its batch and died", || rig.consumer.died()).await;
    consumer.abort();
    assert!(consumer.await.expect_err("the consumer died").is_cancelled());
    rig.settle_and_audit().await;
}

async fn given_messages_delivered_twice_and_five_times_then_each_entry_counts_once(backend: Backend) {
    let Some(rig) = rig(backend).await else { return };
    rig.post("twice", 1_000, 0).await;
    rig.post("five", -400, 1).await;
    rig.relay_all().await;
    let bodies: Vec<String> = rig.inbox().receive(10).await.expect("receive").into_iter().map(|d| d.body).collect();
    assert_eq!(bodies.len(), 2);
    let copies = [1, 4];
    for (body, extra) in bodies.iter().zip(copies) {
        for _ in 0..extra {
            rig.send_raw(body).await;
        }
    }
    rig.settle_and_audit().await;
}

async fn given_the_store_throttles_for_a_while_then_retries_ride_it_out(backend: Backend) {
    let Some(rig) = rig(backend).await else { return };
    let held = rig.throttle_briefly();
    rig.post("during", 250, 0).await;
    if let Some(held) = held {
        held.join().expect("lock released");
    }
    rig.post("after", -50, 0).await;
    let held = rig.throttle_briefly();
    rig.settle().await;
    if let Some(held) = held {
        held.join().expect("lock released");
    }
    if let Seat::Dynamo { faults, .. } = &rig.seat {
        assert_eq!(faults.throttled.load(Ordering::SeqCst), 6, "every injected throttle was met and retried");
    }
    rig.settle_and_audit().await;
}

/// GIVEN DynamoDB throttles every attempt of a request
/// WHEN the client's retries are spent
/// THEN the entry is refused as unavailable, nothing is written, and the client's retry records it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_given_throttling_longer_than_the_retries_then_the_request_fails_whole_and_its_retry_records_once() {
    let Some(rig) = rig(Backend::Dynamo).await else { return };
    let faults = rig.faults();
    faults.throttle.store(ATTEMPTS_MAX, Ordering::SeqCst);
    let refused = rig.send("k", 800, 0).await.expect_err("throttled throughout");
    assert!(matches!(refused, LedgerError::Port(PortError::Unavailable { .. })), "{refused:?}");
    assert_eq!(faults.throttled.load(Ordering::SeqCst), ATTEMPTS_MAX);
    assert!(rig.entries_of(TODAY).await.is_empty(), "nothing was written");
    rig.post("k", 800, 0).await;
    rig.settle_and_audit().await;
}

/// GIVEN DynamoDB commits a write but its answer never reaches the function (the attempt times out)
/// WHEN the SDK retries the write
/// THEN the retry meets the committed write and the client still gets its 201, with one entry; and a
/// consolidation write whose answer is lost counts its entries once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_given_a_write_whose_answer_is_lost_then_the_retry_answers_201_and_counts_once() {
    let Some(rig) = rig(Backend::Dynamo).await else { return };
    let faults = rig.faults();
    faults.stall_writes.store(1, Ordering::SeqCst);
    rig.post("lost-answer", 1_234, 0).await;
    assert_eq!(faults.stalled.load(Ordering::SeqCst), 1, "the recording write's answer was held");
    assert_eq!(rig.entries_of(TODAY).await.len(), 1);
    faults.stall_writes.store(1, Ordering::SeqCst);
    rig.settle_and_audit().await;
    assert_eq!(faults.stalled.load(Ordering::SeqCst), 2, "a consolidation write's answer was held too");
}

/// GIVEN another writer holds the embedded store's lock longer than its busy timeout
/// WHEN an entry is sent
/// THEN it is refused as unavailable and writes nothing, and the client's retry records it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_given_a_lock_held_past_the_busy_timeout_then_the_request_fails_whole_and_its_retry_records_once() {
    let Some(rig) = rig(Backend::Embedded).await else { return };
    let Seat::Embedded(dir) = &rig.seat else { unreachable!("an embedded rig") };
    let held = hold_lock(dir.path(), Duration::from_millis(5_500));
    let refused = rig.send("k", 800, 0).await.expect_err("locked throughout");
    assert!(matches!(refused, LedgerError::Port(PortError::Unavailable { .. })), "{refused:?}");
    held.join().expect("lock released");
    assert!(rig.entries_of(TODAY).await.is_empty(), "nothing was written");
    rig.post("k", 800, 0).await;
    rig.settle_and_audit().await;
}

/// GIVEN one account's rollups are contended on every attempt (each of its consolidation
/// transactions loses the race) WHEN a batch holds its postings and another account's
/// THEN only the contended account's messages come back as failures, the other account's apply,
/// and once the contention ends the redelivered postings apply once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_given_one_account_contended_throughout_then_only_its_postings_fail() {
    let Some(rig) = rig(Backend::Dynamo).await else { return };
    let faults = rig.faults();
    let busy = AccountId::parse("busy").expect("id");
    let (name, currency) = (AccountName::parse("Busy").expect("name"), Currency::parse("BRL").expect("currency"));
    let zone = Zone::parse("America/Sao_Paulo").expect("zone");
    rig.ledger.put_account(busy.clone(), name, currency, zone).await.expect("account");
    for i in 0..3 {
        rig.post(&format!("shop-{i}"), 100, 0).await;
        let key = IdempotencyKey::parse(&format!("busy-{i}")).expect("key");
        rig.ledger.record_entry(&busy, key, request(7, 0)).await.expect("recorded");
    }
    rig.relay_all().await;
    *faults.conflict_on.lock().expect("lock") = Some("\"A#busy\"".to_owned());
    let batch = rig.inbox().receive(10).await.expect("receive");
    assert_eq!(batch.len(), 6, "every entry is queued");
    let failed = consolidate::consume(&rig.ledger, rig.inbox().as_ref(), &batch).await;
    assert_eq!(failed, 3, "only the contended account's messages failed");
    let today = DateRange::new(TODAY, TODAY).expect("range");
    let (_, shop_days, _) = rig.ledger.daily(&rig.account, today).await.expect("daily");
    assert_eq!((shop_days[0].credits, shop_days[0].entry_count), (300, 3), "the other account applied");
    let (_, busy_days, _) = rig.ledger.daily(&busy, today).await.expect("daily");
    assert_eq!(busy_days[0].entry_count, 0, "the contended account waits");
    *faults.conflict_on.lock().expect("lock") = None;
    rig.settle_and_audit().await;
    let (_, busy_days, _) = rig.ledger.daily(&busy, today).await.expect("daily");
    assert_eq!((busy_days[0].credits, busy_days[0].entry_count), (21, 3), "each counted once after the redelivery");
}

/// GIVEN a consolidation round commits its rollups and ends before writing its entries' applied marks
/// WHEN the same postings come again THEN they count as applied (their slots are pending in the
/// account's rollup lock), and that round writes the missing marks.
/// GIVEN another round ends the same way WHEN a later round of the account commits THEN it writes the
/// marks left behind first, so re-published postings still count once, and the books agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_given_a_round_ends_before_writing_its_marks_then_the_next_round_writes_them_and_each_counts_once() {
    let Some(rig) = rig(Backend::Dynamo).await else { return };
    let faults = rig.faults();
    let (applied, duplicate) = (fluxo::ports::Applied::Applied, fluxo::ports::Applied::Duplicate);

    // Each consolidation below is one round: one account, fewer than 50 postings.
    let first = postings_of(&rig, &["a", "b", "c"]).await;
    faults.refuse_batch_writes.store(1, Ordering::SeqCst);
    assert_eq!(consolidate(&rig, first.clone()).await, vec![applied; 3]);
    assert_eq!(faults.refused.load(Ordering::SeqCst), 1, "the round's marks were not written");
    assert_eq!(consolidate(&rig, first).await, vec![duplicate; 3], "pending entries count as applied");

    let second = postings_of(&rig, &["d", "e"]).await;
    faults.refuse_batch_writes.store(1, Ordering::SeqCst);
    assert_eq!(consolidate(&rig, second).await, vec![applied; 2]);
    assert_eq!(faults.refused.load(Ordering::SeqCst), 2, "the second round's marks were not written");
    assert_eq!(consolidate(&rig, postings_of(&rig, &["f"]).await).await, vec![applied]);
    let all: Vec<_> = rig.entries_of(TODAY).await.iter().map(Entry::posting).collect();
    assert_eq!(consolidate(&rig, all).await, vec![duplicate; 6], "the third round wrote the marks the second left");
    let today = DateRange::new(TODAY, TODAY).expect("range");
    assert_eq!(rig.ledger.daily(&rig.account, today).await.expect("daily").1[0].entry_count, 6);
    rig.settle_and_audit().await;
}

/// Records one entry per key and returns their postings.
async fn postings_of(rig: &Rig, keys: &[&str]) -> Vec<fluxo::domain::entry::Posting> {
    let mut postings = Vec::new();
    for key in keys {
        let written = rig.send(key, 100, 0).await.expect("recorded");
        let body: serde_json::Value = serde_json::from_str(&written.response.body).expect("json");
        let id = body["id"].as_str().expect("id");
        let entry = rig.entries_of(TODAY).await.into_iter().find(|e| e.id.to_string() == id).expect("listed");
        postings.push(entry.posting());
    }
    postings
}

async fn consolidate(rig: &Rig, batch: Vec<fluxo::domain::entry::Posting>) -> Vec<fluxo::ports::Applied> {
    rig.ledger.consolidate(&batch).await.expect("consolidate")
}
