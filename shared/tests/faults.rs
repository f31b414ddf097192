//! Fault injection to quiescence, over the real queue and each store (the embedded SQLite store and
//! queue; DynamoDB and SQS through the moto emulator, behind a proxy that throttles and loses answers).
//!
//! Each scenario injects one fault through the ports or the network, then runs relay and the queue
//! until nothing moves, and audits the books: every entry answered 201 is in exactly one daily
//! balance, every balance equals the sum of its listed entries, the poison message sent in each
//! scenario is in the dead-letter queue and nothing else is.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
mod faulty;
mod support;

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use faulty::ports::{DyingBalances, Link, SwitchedPublisher, TestClock};
use faulty::proxy::Faults;
use fluxo::adapters::aws::stream::StreamReader;
use fluxo::adapters::aws::{ATTEMPT_TIMEOUT, ATTEMPTS_MAX, DynamoStore, SqsQueue, ensure_queues, ensure_table};
use fluxo::adapters::embedded::{EmbeddedQueue, EmbeddedStore, QueueSettings};
use fluxo::config::RelaySource;
use fluxo::domain::account::{AccountId, AccountName, Currency, Zone};
use fluxo::domain::calendar::DateRange;
use fluxo::domain::entry::{Entry, EntryType};
use fluxo::domain::idempotency::IdempotencyKey;
use fluxo::domain::money::Amount;
use fluxo::handlers::{consolidate, relay};
use fluxo::ledger::{EntryRequest, Ledger, LedgerError, Written};
use fluxo::ports::{BalanceStore, Inbox, LedgerStore, PortError, Publisher};
use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};

const NOW: &str = "2026-11-23T15:00:00Z";
const TODAY: Date = date(2026, 11, 23);
/// Receives after which a message is dead-lettered.
const MAX_RECEIVES: i64 = 3;
const POISON: &str = "poison: no posting decodes from this";

#[derive(Debug, Clone, Copy)]
enum Backend {
    Embedded,
    Dynamo,
}

/// Where the store lives, so a scenario can reach it under the ports or through the network.
enum Seat {
    Embedded { dir: tempfile::TempDir, queue: EmbeddedQueue },
    Dynamo { faults: Arc<Faults>, sqs: aws_sdk_sqs::Client, queue_url: String },
}

/// A ledger over a real store and queue, with switchable faults, and the client's record of what it
/// was answered.
struct Rig {
    ledger: Ledger,
    /// Where relay reads recorded entries: the embedded store's outbox, or the table's stream.
    relay: RelaySource,
    clock: Arc<TestClock>,
    link: Arc<SwitchedPublisher>,
    consumer: Arc<DyingBalances>,
    inbox: Arc<dyn Inbox>,
    seat: Seat,
    account: AccountId,
    /// Every entry the client was answered for (201, or the 200 replay of one), by entry id.
    acked: Mutex<BTreeMap<String, (Date, i64)>>,
}

type Stores = (Arc<dyn LedgerStore>, Arc<dyn BalanceStore>, Arc<dyn Publisher>, Arc<dyn Inbox>, RelaySource, Seat);

async fn embedded() -> Stores {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(dir.path()).expect("store");
    let settings = QueueSettings { visibility_timeout: SignedDuration::from_millis(1), max_receives: MAX_RECEIVES };
    let queue = EmbeddedQueue::open(dir.path(), settings).expect("queue");
    let seat = Seat::Embedded { dir, queue: queue.clone() };
    let relay = RelaySource::Outbox(Arc::new(store.clone()));
    (Arc::new(store.clone()), Arc::new(store), Arc::new(queue.clone()), Arc::new(queue), relay, seat)
}

async fn dynamo(moto: &str) -> Stores {
    // Held answers come back after the SDK gave up on the attempt.
    let (url, faults) = faulty::proxy::start(moto, ATTEMPT_TIMEOUT + Duration::from_millis(500)).await;
    let clients = support::clients(&url, None);
    let table = support::unique("ledger");
    ensure_table(&clients.dynamodb, &table).await.expect("table");
    let urls = ensure_queues(&clients.sqs, &support::unique("entries"), MAX_RECEIVES, 0).await.expect("queues");
    let reader = StreamReader::open(&clients.dynamodb, clients.streams.clone(), &table).await.expect("stream");
    let store = DynamoStore::new(clients.dynamodb, &table);
    let queue = SqsQueue::new(clients.sqs.clone(), &urls.queue, Some(urls.dead_letter));
    let seat = Seat::Dynamo { faults, sqs: clients.sqs, queue_url: urls.queue };
    let relay = RelaySource::Stream(Arc::new(reader));
    (Arc::new(store.clone()), Arc::new(store), Arc::new(queue.clone()), Arc::new(queue), relay, seat)
}

/// A rig over `backend` with an account `shop`; `None` when the emulator is not installed (outside
/// CI only: under `CI=true` a missing emulator fails).
async fn rig(backend: Backend) -> Option<Rig> {
    let (store, balances, publisher, inbox, relay, seat) = match backend {
        Backend::Embedded => embedded().await,
        Backend::Dynamo => dynamo(&support::moto_url()?).await,
    };
    let clock = TestClock::at(NOW);
    let link = SwitchedPublisher::over(publisher);
    let consumer = DyingBalances::over(balances);
    let (ledger, account) = faulty::shop_ledger(store, consumer.clone(), link.clone(), clock.clone()).await;
    Some(Rig { ledger, relay, clock, link, consumer, inbox, seat, account, acked: Mutex::default() })
}

fn request(net: i64, days_back: i64) -> EntryRequest {
    let kind = if net < 0 { EntryType::Debit } else { EntryType::Credit };
    let occurred_at = NOW.parse::<Timestamp>().expect("now").checked_sub(SignedDuration::from_hours(24 * days_back));
    EntryRequest {
        kind,
        amount: Amount::from_minor(net.abs()).expect("amount"),
        description: None,
        occurred_at: Some(occurred_at.expect("instant")),
        currency: None,
    }
}

impl Rig {
    /// Sends one entry request as a client would, keeping what it was answered.
    async fn send(&self, key: &str, net: i64, days_back: i64) -> Result<Written, LedgerError> {
        let key = IdempotencyKey::parse(key).expect("key");
        let written = self.ledger.record_entry(&self.account, key, request(net, days_back)).await?;
        let body: serde_json::Value = serde_json::from_str(&written.response.body).expect("json");
        let id = body["id"].as_str().expect("id").to_owned();
        let day = body["business_date"].as_str().expect("date").parse().expect("date");
        let earlier = self.acked.lock().expect("acked").insert(id, (day, net));
        assert!(earlier.is_none() || earlier == Some((day, net)), "a key answered with another entry");
        Ok(written)
    }

    /// Records an entry that must be answered 201.
    async fn post(&self, key: &str, net: i64, days_back: i64) {
        let written = self.send(key, net, days_back).await.expect("recorded");
        assert!(!written.replayed, "{key} was new");
    }

    /// Puts `body` on the queue as it is, as no producer of the ledger would.
    async fn send_raw(&self, body: &str) {
        match &self.seat {
            Seat::Embedded { queue, .. } => queue.send_raw(vec![body.to_owned()]).await.expect("send"),
            Seat::Dynamo { sqs, queue_url, .. } => {
                sqs.send_message().queue_url(queue_url).message_body(body).send().await.expect("send");
            }
        }
    }

    /// One relay pass, as the runner makes it; returns what it moved (0 also when it failed: the
    /// next pass tries again).
    async fn relay_once(&self) -> usize {
        let moved = match &self.relay {
            RelaySource::Outbox(outbox) => relay::drain(&self.ledger, outbox.as_ref()).await.map(|r| r.published),
            RelaySource::Stream(stream) => relay::pump(&self.ledger, stream.as_ref()).await,
            RelaySource::Pushed => Ok(0),
        };
        moved.unwrap_or(0)
    }

    /// Relays until a pass moves nothing.
    async fn relay_all(&self) -> usize {
        let mut moved = 0;
        for _ in 0..50 {
            match self.relay_once().await {
                0 => return moved,
                n => moved += n,
            }
        }
        panic!("relay never ran dry");
    }

    /// A relay pass that publishes and dies before acknowledging: the same postings come again.
    async fn relay_dies(&self) {
        match &self.relay {
            RelaySource::Outbox(outbox) => {
                let pending = outbox.pending(100).await.expect("outbox");
                self.ledger.publish(&pending.postings).await.expect("publish");
            }
            RelaySource::Stream(stream) => {
                let batch = stream.next().await.expect("stream");
                relay::handle_stream(&self.ledger, batch.event).await;
            }
            RelaySource::Pushed => {}
        }
    }

    /// Runs relay, reconciliation and the queue until a round moves nothing. Each round lets the
    /// clock pass reconciliation's grace period.
    async fn settle(&self) {
        for _ in 0..40 {
            self.clock.advance(SignedDuration::from_mins(11));
            let relayed = self.relay_all().await;
            let republished = self.ledger.reconcile().await.expect("reconcile").republished;
            let consumed = self.drain().await;
            let depths = self.inbox.depths().await.expect("depths");
            if relayed + republished + consumed == 0 && depths.visible == 0 && depths.in_flight == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("relay and the queue never settled");
    }

    /// Consumes the queue until a receive comes back empty; returns how many messages it handled.
    async fn drain(&self) -> usize {
        let mut consumed = 0;
        for _ in 0..200 {
            let batch = self.inbox.receive(10).await.expect("receive");
            if batch.is_empty() {
                return consumed;
            }
            consumed += batch.len();
            consolidate::consume(&self.ledger, self.inbox.as_ref(), &batch).await;
        }
        panic!("the queue never ran dry");
    }

    /// Every entry of a business date, through every page.
    async fn entries_of(&self, day: Date) -> Vec<Entry> {
        let mut all = Vec::new();
        let mut after = None;
        for _ in 0..100 {
            let page = self.ledger.entries(&self.account, day, after, 50).await.expect("entries");
            all.extend(page.items);
            after = page.more_after;
            if after.is_none() {
                return all;
            }
        }
        panic!("entries of {day} never ended");
    }

    /// The books after quiescence: each day's balance is the sum of its entries, every acknowledged
    /// entry is listed exactly once with its amount, and only the poison message is dead.
    async fn audit(&self) {
        let acked = self.acked.lock().expect("acked").clone();
        let from = acked.values().map(|(day, _)| *day).min().unwrap_or(TODAY);
        let (_, days, _) =
            self.ledger.daily(&self.account, DateRange::new(from, TODAY).expect("range")).await.expect("daily");
        let mut listed: BTreeMap<String, (Date, i64)> = BTreeMap::new();
        let mut closing = 0;
        for day in &days {
            let entries = self.entries_of(day.date).await;
            let (mut credits, mut debits) = (0, 0);
            for e in &entries {
                let net = match e.kind {
                    EntryType::Credit => e.amount.minor(),
                    EntryType::Debit => -e.amount.minor(),
                };
                *if net > 0 { &mut credits } else { &mut debits } += net.abs();
                assert!(listed.insert(e.id.to_string(), (e.business_date, net)).is_none(), "{} listed twice", e.id);
            }
            closing += credits - debits;
            let count = i64::try_from(entries.len()).expect("count");
            assert_eq!(
                (day.credits, day.debits, day.entry_count, day.closing),
                (credits, debits, count, closing),
                "{}",
                day.date
            );
        }
        for (id, answered) in &acked {
            assert_eq!(listed.get(id), Some(answered), "acknowledged entry {id} is in the books as answered");
        }
        let depths = self.inbox.depths().await.expect("depths");
        assert_eq!((depths.visible, depths.in_flight, depths.dead), (0, 0, 1), "only the poison message is dead");
    }

    /// The poison message, then quiescence and the audit: the epilogue of every scenario.
    async fn settle_and_audit(&self) {
        self.send_raw(POISON).await;
        self.settle().await;
        self.audit().await;
    }

    /// The store refuses or delays requests for a moment, within what the client's retries ride out:
    /// three throttled DynamoDB requests, or another writer holding SQLite's lock for 300 ms.
    fn throttle_briefly(&self) -> Option<std::thread::JoinHandle<()>> {
        match &self.seat {
            Seat::Dynamo { faults, .. } => {
                faults.throttle.store(3, Ordering::SeqCst);
                None
            }
            Seat::Embedded { dir, .. } => Some(hold_lock(dir.path(), Duration::from_millis(300))),
        }
    }
}

/// Takes SQLite's write lock on the ledger from another connection and holds it for `held`.
fn hold_lock(dir: &std::path::Path, held: Duration) -> std::thread::JoinHandle<()> {
    let db = rusqlite::Connection::open(dir.join("ledger.sqlite")).expect("open");
    db.execute_batch("BEGIN IMMEDIATE").expect("lock");
    std::thread::spawn(move || {
        std::thread::sleep(held);
        db.execute_batch("COMMIT").expect("unlock");
    })
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

async fn given_the_queue_is_down_while_entries_are_recorded_then_relay_brings_every_entry_in_once(backend: Backend) {
    let Some(rig) = rig(backend).await else { return };
    rig.link.set(Link::Down);
    rig.post("a", 700, 0).await;
    rig.post("b", -200, 1).await;
    rig.post("c", 50, 3).await;
    assert_eq!(rig.relay_once().await, 0, "relay cannot publish while the queue is down");
    assert_eq!(rig.inbox.depths().await.expect("depths").visible, 0, "nothing reached the queue");
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
    rig.relay_dies().await;
    assert_eq!(rig.inbox.depths().await.expect("depths").visible, 2, "the postings were published");
    assert!(rig.relay_all().await > 0, "unacknowledged, they are relayed again");
    assert_eq!(rig.inbox.depths().await.expect("depths").visible, 4, "two copies of each");
    rig.settle_and_audit().await;
}

async fn given_the_consumer_dies_mid_batch_then_the_redelivered_batch_counts_each_entry_once(backend: Backend) {
    let Some(rig) = rig(backend).await else { return };
    for (i, days_back) in [0, 0, 1, 1, 2, 5].into_iter().enumerate() {
        rig.post(&format!("k{i}"), 100 + i64::try_from(i).expect("i"), days_back).await;
    }
    rig.relay_all().await;
    let batch = rig.inbox.receive(10).await.expect("receive");
    assert!(!batch.is_empty(), "the entries are queued");
    rig.consumer.die_after(batch.len() / 2);
    let consumer = tokio::spawn({
        let (ledger, inbox) = (rig.ledger.clone(), rig.inbox.clone());
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
    let bodies: Vec<String> = rig.inbox.receive(10).await.expect("receive").into_iter().map(|d| d.body).collect();
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
    let Seat::Dynamo { faults, .. } = &rig.seat else { unreachable!("a DynamoDB rig") };
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
    let Seat::Dynamo { faults, .. } = &rig.seat else { unreachable!("a DynamoDB rig") };
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
    let Seat::Embedded { dir, .. } = &rig.seat else { unreachable!("an embedded rig") };
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
    let Seat::Dynamo { faults, .. } = &rig.seat else { unreachable!("a DynamoDB rig") };
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
    let batch = rig.inbox.receive(10).await.expect("receive");
    assert_eq!(batch.len(), 6, "every entry is queued");
    let failed = consolidate::consume(&rig.ledger, rig.inbox.as_ref(), &batch).await;
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
    let Seat::Dynamo { faults, .. } = &rig.seat else { unreachable!("a DynamoDB rig") };
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
