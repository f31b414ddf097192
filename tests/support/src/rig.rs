//! The rig the conformance suite (`shared/tests/ledger`) and the fault injection
//! (`shared/tests/faults.rs`) drive: a ledger over one store adapter, its account `shop`, a clock
//! moved by hand, a publisher that can be switched off or made to hang, a consumer that can die
//! part-way, and either a list that records what relay published or the backend's real queue.
//!
//! DynamoDB goes through the fault proxy ([`crate::faults::proxy`]), so a scenario can throttle it
//! or lose its answers; the embedded store can be locked from another connection; every store can
//! be reached under the ports ([`Seat`]) to inject a state no use case would write.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fluxo::adapters::aws::stream::StreamReader;
use fluxo::adapters::aws::{ATTEMPT_TIMEOUT, DynamoStore, SqsQueue, ensure_queues, ensure_table};
use fluxo::adapters::embedded::{EmbeddedQueue, EmbeddedStore, QueueSettings};
use fluxo::adapters::memory::{MemoryQueue, MemoryStore};
use fluxo::config::RelaySource;
use fluxo::domain::account::AccountId;
use fluxo::domain::calendar::DateRange;
use fluxo::domain::entry::{Entry, EntryType, Posting};
use fluxo::domain::idempotency::{Fingerprint, IdempotencyKey, StoredResponse};
use fluxo::domain::money::Amount;
use fluxo::handlers::{consolidate, relay};
use fluxo::ledger::{EntryRequest, Ledger, LedgerError, Written};
use fluxo::ports::{Applied, BalanceStore, Inbox, LedgerStore, NewEntry, PortError, Publisher};
use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};

use crate::emulator;
use crate::faults::ports::{DyingBalances, SwitchedPublisher, TestClock};
use crate::faults::proxy::{self, Faults};

/// The rig's clock at the start of every scenario.
pub const NOW: &str = "2026-11-23T15:00:00Z";
/// [`NOW`]'s business date in the account's zone (America/Sao_Paulo).
pub const TODAY: Date = date(2026, 11, 23);
/// Receives after which the real queue dead-letters a message.
pub const MAX_RECEIVES: i64 = 3;
/// A body no producer of the ledger writes, sent by the fault scenarios to prove it ends dead.
pub const POISON: &str = "poison: no posting decodes from this";

/// The store adapters a scenario runs against.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Embedded,
    Dynamo,
    Memory,
}

/// Where relay's postings go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Into a list the scenario drains ([`Rig::published`]) and hands to consolidation itself.
    Recording,
    /// Into the backend's own queue (embedded, SQS on moto, in memory), consumed as the runner does.
    Real,
}

/// Where the store keeps its data, so a scenario can reach under the ports.
pub enum Seat {
    Memory(MemoryStore),
    Embedded(tempfile::TempDir),
    Dynamo { client: aws_sdk_dynamodb::Client, table: String, faults: Arc<Faults> },
}

/// A queue of one backend, with a way to send a body as it is, as no producer of the ledger would.
pub struct TestQueue {
    pub inbox: Arc<dyn Inbox>,
    pub publisher: Arc<dyn Publisher>,
    raw: RawSender,
    _dir: Option<tempfile::TempDir>,
}

enum RawSender {
    Memory(MemoryQueue),
    Embedded(EmbeddedQueue),
    Sqs(aws_sdk_sqs::Client, String),
}

impl TestQueue {
    /// A queue of `backend` whose messages are dead-lettered after `max_receives` and become visible
    /// again at once; `None` when the emulator is not installed (outside CI only).
    pub async fn open(backend: Backend, max_receives: i64) -> Option<Self> {
        let visibility_timeout = SignedDuration::from_millis(1);
        Some(match backend {
            Backend::Memory => {
                let queue = MemoryQueue::new(visibility_timeout, max_receives);
                let (inbox, publisher) = (Arc::new(queue.clone()), Arc::new(queue.clone()));
                Self { inbox, publisher, raw: RawSender::Memory(queue), _dir: None }
            }
            Backend::Embedded => {
                let dir = tempfile::tempdir().expect("tempdir");
                let queue =
                    EmbeddedQueue::open(dir.path(), QueueSettings { visibility_timeout, max_receives }).expect("queue");
                let (inbox, publisher) = (Arc::new(queue.clone()), Arc::new(queue.clone()));
                Self { inbox, publisher, raw: RawSender::Embedded(queue), _dir: Some(dir) }
            }
            Backend::Dynamo => {
                let clients = emulator::clients(&emulator::moto_url()?, None);
                let urls =
                    ensure_queues(&clients.sqs, &emulator::unique("entries"), max_receives, 0).await.expect("queues");
                let queue = SqsQueue::new(clients.sqs.clone(), &urls.queue, Some(urls.dead_letter));
                let (inbox, publisher) = (Arc::new(queue.clone()), Arc::new(queue));
                Self { inbox, publisher, raw: RawSender::Sqs(clients.sqs, urls.queue), _dir: None }
            }
        })
    }

    /// Puts `body` on the queue as it is.
    pub async fn send_raw(&self, body: &str) {
        match &self.raw {
            RawSender::Memory(q) => q.send_raw(vec![body.to_owned()]).expect("send"),
            RawSender::Embedded(q) => q.send_raw(vec![body.to_owned()]).await.expect("send"),
            RawSender::Sqs(client, url) => {
                client.send_message().queue_url(url).message_body(body).send().await.expect("send");
            }
        }
    }
}

/// A ledger over one backend with switchable faults, and the client's record of what it was
/// answered.
pub struct Rig {
    pub ledger: Ledger,
    /// Where relay reads recorded entries: the store's outbox, or the table's stream.
    pub relay: RelaySource,
    pub clock: Arc<TestClock>,
    /// The publisher relay and reconciliation use, in front of the recording list or the real queue.
    pub link: Arc<SwitchedPublisher>,
    pub consumer: Arc<DyingBalances>,
    pub seat: Seat,
    pub account: AccountId,
    queue: Option<TestQueue>,
    /// Every entry the client was answered for (201, or the 200 replay of one), by entry id.
    acked: Mutex<BTreeMap<String, (Date, i64)>>,
}

type Stores = (Arc<dyn LedgerStore>, Arc<dyn BalanceStore>, RelaySource, Seat);

async fn stores(backend: Backend) -> Option<Stores> {
    Some(match backend {
        Backend::Embedded => {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = EmbeddedStore::open(dir.path()).expect("store");
            let relay = RelaySource::Outbox(Arc::new(store.clone()));
            (Arc::new(store.clone()), Arc::new(store), relay, Seat::Embedded(dir))
        }
        Backend::Memory => {
            let store = MemoryStore::new();
            let relay = RelaySource::Outbox(Arc::new(store.clone()));
            (Arc::new(store.clone()), Arc::new(store.clone()), relay, Seat::Memory(store))
        }
        Backend::Dynamo => {
            // Held answers come back after the SDK gave up on the attempt.
            let moto = emulator::moto_url()?;
            let (url, faults) = proxy::start(&moto, ATTEMPT_TIMEOUT + Duration::from_millis(500)).await;
            let clients = emulator::clients(&url, None);
            let table = emulator::unique("ledger");
            ensure_table(&clients.dynamodb, &table).await.expect("table");
            let store = DynamoStore::new(clients.dynamodb.clone(), &table);
            let reader = StreamReader::open(&clients.dynamodb, clients.streams.clone(), &table).await.expect("stream");
            let seat = Seat::Dynamo { client: clients.dynamodb, table, faults };
            (Arc::new(store.clone()), Arc::new(store), RelaySource::Stream(Arc::new(reader)), seat)
        }
    })
}

impl Rig {
    /// A rig over `backend` publishing into `queue`, with the account `shop` created; `None` when
    /// the emulator is not installed (outside CI only: under `CI=true` a missing emulator fails).
    pub async fn over(backend: Backend, queue: Queue) -> Option<Self> {
        let (store, balances, relay, seat) = stores(backend).await?;
        let queue = match queue {
            Queue::Recording => None,
            Queue::Real => Some(TestQueue::open(backend, MAX_RECEIVES).await?),
        };
        let link = match &queue {
            None => SwitchedPublisher::recording(),
            Some(queue) => SwitchedPublisher::over(queue.publisher.clone()),
        };
        let clock = TestClock::at(NOW);
        let consumer = DyingBalances::over(balances);
        let (ledger, account) = crate::faults::shop_ledger(store, consumer.clone(), link.clone(), clock.clone()).await;
        Some(Self { ledger, relay, clock, link, consumer, seat, account, queue, acked: Mutex::default() })
    }

    /// The real queue's consuming side.
    ///
    /// # Panics
    /// On a rig that records what it publishes instead.
    pub fn inbox(&self) -> Arc<dyn Inbox> {
        self.queue.as_ref().expect("a rig over a real queue").inbox.clone()
    }

    /// The fault proxy in front of DynamoDB.
    ///
    /// # Panics
    /// On a rig over another store.
    pub fn faults(&self) -> &Faults {
        let Seat::Dynamo { faults, .. } = &self.seat else { panic!("a DynamoDB rig") };
        faults
    }

    /// One relay pass over the outbox or the stream, as the runner makes it; `Err` when publishing
    /// failed (nothing is acknowledged then: the next pass reads the same entries).
    pub async fn relay_once(&self) -> Result<usize, PortError> {
        match &self.relay {
            RelaySource::Outbox(outbox) => relay::drain(&self.ledger, outbox.as_ref()).await.map(|r| r.published),
            RelaySource::Stream(stream) => relay::pump(&self.ledger, stream.as_ref()).await,
            RelaySource::Pushed => Ok(0),
        }
    }

    /// Relays until a pass moves nothing or fails (the runner retries on its next tick); returns
    /// what it moved.
    pub async fn relay_all(&self) -> usize {
        let mut moved = 0;
        for _ in 0..50 {
            match self.relay_once().await {
                Ok(0) | Err(_) => return moved,
                Ok(n) => moved += n,
            }
        }
        panic!("relay never ran dry");
    }

    /// A relay pass that publishes and dies before acknowledging: the same postings come again.
    /// `Err` when the publish itself failed.
    pub async fn relay_dies(&self) -> Result<(), PortError> {
        match &self.relay {
            RelaySource::Outbox(outbox) => {
                let pending = outbox.pending(100).await.expect("outbox");
                self.ledger.publish(&pending.postings).await
            }
            RelaySource::Stream(stream) => {
                let batch = stream.next().await.expect("stream");
                let failed = relay::handle_stream(&self.ledger, batch.event).await.batch_item_failures;
                match failed.is_empty() {
                    true => Ok(()),
                    false => Err(PortError::unavailable("the stream batch was not relayed")),
                }
            }
            RelaySource::Pushed => Ok(()),
        }
    }

    /// What relay published of everything recorded so far, taken off the recording list.
    pub async fn published(&self) -> Vec<Posting> {
        self.relay_all().await;
        self.link.drain()
    }

    /// Relays, then delivers everything published so far to consolidation, like one SQS batch.
    pub async fn deliver(&self) -> Vec<Applied> {
        let batch = self.published().await;
        self.ledger.consolidate(&batch).await.expect("consolidate")
    }

    /// A day's closing balance and entry count, as the report reads them.
    pub async fn closing(&self, day: Date) -> (i64, i64) {
        let range = DateRange::new(day, day).expect("range");
        let (_, days, _) = self.ledger.daily(&self.account, range).await.expect("daily");
        (days[0].closing, days[0].entry_count)
    }

    /// Sends one entry request of `net` minor units (a debit when negative), `days_back` days before
    /// [`NOW`], as a client would; keeps what it was answered.
    pub async fn send(&self, key: &str, net: i64, days_back: i64) -> Result<Written, LedgerError> {
        let written = self.ledger.record_entry(&self.account, self::key(key), request(net, days_back)).await?;
        let body: serde_json::Value = serde_json::from_str(&written.response.body).expect("json");
        let id = body["id"].as_str().expect("id").to_owned();
        let day = body["business_date"].as_str().expect("date").parse().expect("date");
        let earlier = self.acked.lock().expect("acked").insert(id, (day, net));
        assert!(earlier.is_none() || earlier == Some((day, net)), "a key answered with another entry");
        Ok(written)
    }

    /// Records an entry that must be answered 201.
    pub async fn post(&self, key: &str, net: i64, days_back: i64) {
        let written = self.send(key, net, days_back).await.expect("recorded");
        assert!(!written.replayed, "{key} was new");
    }

    /// Puts `body` on the real queue as it is.
    pub async fn send_raw(&self, body: &str) {
        self.queue.as_ref().expect("a rig over a real queue").send_raw(body).await;
    }

    /// Runs relay, reconciliation and the real queue until a round moves nothing. Each round lets
    /// the clock pass reconciliation's grace period.
    pub async fn settle(&self) {
        for _ in 0..40 {
            self.clock.advance(SignedDuration::from_mins(11));
            let relayed = self.relay_all().await;
            let republished = self.ledger.reconcile().await.expect("reconcile").republished;
            let consumed = self.drain().await;
            let depths = self.inbox().depths().await.expect("depths");
            if relayed + republished + consumed == 0 && depths.visible == 0 && depths.in_flight == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("relay and the queue never settled");
    }

    /// Consumes the real queue until a receive comes back empty; returns how many messages it
    /// handled.
    pub async fn drain(&self) -> usize {
        let mut consumed = 0;
        for _ in 0..200 {
            let batch = self.inbox().receive(10).await.expect("receive");
            if batch.is_empty() {
                return consumed;
            }
            consumed += batch.len();
            consolidate::consume(&self.ledger, self.inbox().as_ref(), &batch).await;
        }
        panic!("the queue never ran dry");
    }

    /// Every entry of a business date, through every page.
    pub async fn entries_of(&self, day: Date) -> Vec<Entry> {
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
    pub async fn audit(&self) {
        let acked = self.acked.lock().expect("acked").clone();
        let from = acked.values().map(|(day, _)| *day).min().unwrap_or(TODAY);
        let range = DateRange::new(from, TODAY).expect("range");
        let (_, days, _) = self.ledger.daily(&self.account, range).await.expect("daily");
        let mut listed: BTreeMap<String, (Date, i64)> = BTreeMap::new();
        let mut closing = 0;
        for day in &days {
            let entries = self.entries_of(day.date).await;
            let (mut credits, mut debits) = (0, 0);
            for e in &entries {
                let net = signed(e);
                *if net > 0 { &mut credits } else { &mut debits } += net.abs();
                assert!(listed.insert(e.id.to_string(), (e.business_date, net)).is_none(), "{} listed twice", e.id);
            }
            closing += credits - debits;
            let count = i64::try_from(entries.len()).expect("count");
            let stored = (day.credits, day.debits, day.entry_count, day.closing);
            assert_eq!(stored, (credits, debits, count, closing), "{}", day.date);
        }
        for (id, answered) in &acked {
            assert_eq!(listed.get(id), Some(answered), "acknowledged entry {id} is in the books as answered");
        }
        let depths = self.inbox().depths().await.expect("depths");
        assert_eq!((depths.visible, depths.in_flight, depths.dead), (0, 0, 1), "only the poison message is dead");
    }

    /// The poison message, then quiescence and the audit: the epilogue of every fault scenario.
    pub async fn settle_and_audit(&self) {
        self.send_raw(POISON).await;
        self.settle().await;
        self.audit().await;
    }

    /// Writes an October rollup with the given closing balance under the ports.
    pub async fn seed_october_closing(&self, closing: i64) {
        let rollup = fluxo::domain::balance::MonthRollup {
            month: date(2026, 10, 1),
            movement: fluxo::domain::balance::Movement { credits: closing, debits: 0, entry_count: 1 },
            closing,
        };
        match &self.seat {
            Seat::Memory(store) => store.put_month(&self.account, rollup).expect("seed"),
            Seat::Embedded(dir) => {
                let db = rusqlite::Connection::open(dir.path().join("ledger.sqlite")).expect("open");
                let sql = "INSERT INTO monthly_totals (account_id, month, credits, debits, entry_count, closing) VALUES ('shop', '2026-10-01', ?1, 0, 1, ?1)";
                db.execute(sql, [closing]).expect("seed");
            }
            Seat::Dynamo { client, table, .. } => {
                let item = fluxo::adapters::aws::item::month_item(&self.account, &rollup);
                client.put_item().table_name(table).set_item(Some(item)).send().await.expect("seed");
            }
        }
    }

    /// The store refuses or delays requests for a moment, within what the client's retries ride out:
    /// three throttled DynamoDB requests, or another writer holding SQLite's lock for 300 ms.
    pub fn throttle_briefly(&self) -> Option<std::thread::JoinHandle<()>> {
        match &self.seat {
            Seat::Dynamo { faults, .. } => {
                faults.throttle.store(3, std::sync::atomic::Ordering::SeqCst);
                None
            }
            Seat::Embedded(dir) => Some(hold_lock(dir.path(), Duration::from_millis(300))),
            Seat::Memory(_) => None,
        }
    }
}

/// Takes SQLite's write lock on the ledger in `dir` from another connection and holds it for `held`.
pub fn hold_lock(dir: &std::path::Path, held: Duration) -> std::thread::JoinHandle<()> {
    let db = rusqlite::Connection::open(dir.join("ledger.sqlite")).expect("open");
    db.execute_batch("BEGIN IMMEDIATE").expect("lock");
    std::thread::spawn(move || {
        std::thread::sleep(held);
        db.execute_batch("COMMIT").expect("unlock");
    })
}

/// An entry's amount, negative for a debit.
pub fn signed(e: &Entry) -> i64 {
    match e.kind {
        EntryType::Credit => e.amount.minor(),
        EntryType::Debit => -e.amount.minor(),
    }
}

pub fn credit(amount: i64) -> EntryRequest {
    entry(EntryType::Credit, amount)
}

pub fn entry(kind: EntryType, amount: i64) -> EntryRequest {
    EntryRequest {
        kind,
        amount: Amount::from_minor(amount).expect("amount"),
        description: None,
        occurred_at: None,
        currency: None,
    }
}

/// An entry of `account` on `day` (recorded at noon in São Paulo) under `key`, as ingest hands it to
/// the store: for tests and benchmarks that write under the ledger's use cases.
pub fn new_entry(account: &AccountId, key: &str, kind: EntryType, amount: i64, day: Date) -> NewEntry {
    let at = day.at(12, 0, 0, 0).in_tz("America/Sao_Paulo").expect("a São Paulo instant").timestamp();
    let entry = Entry {
        id: fluxo::domain::entry::EntryId::new_v7(),
        account_id: account.clone(),
        kind,
        amount: Amount::from_minor(amount).expect("a positive amount"),
        currency: fluxo::domain::account::Currency::parse("BRL").expect("a known currency"),
        description: None,
        occurred_at: at,
        business_date: day,
        recorded_at: at,
        reverses: None,
        reversed_by: None,
    };
    let response = StoredResponse {
        fingerprint: Fingerprint::of(&[key]),
        body: "{}".to_owned(),
        location: format!("/v1/accounts/{account}/entries/{}", entry.id),
    };
    NewEntry { entry, key: self::key(key), response }
}

/// `net` minor units (a debit when negative) that occurred `days_back` days before [`NOW`].
pub fn request(net: i64, days_back: i64) -> EntryRequest {
    let kind = if net < 0 { EntryType::Debit } else { EntryType::Credit };
    let occurred_at = NOW.parse::<Timestamp>().expect("now").checked_sub(SignedDuration::from_hours(24 * days_back));
    EntryRequest { occurred_at: Some(occurred_at.expect("instant")), ..entry(kind, net.abs()) }
}

pub fn key(raw: &str) -> IdempotencyKey {
    IdempotencyKey::parse(raw).expect("key")
}
