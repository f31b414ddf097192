//! The conformance suite: the ledger's use cases over every store adapter (the embedded SQLite store,
//! DynamoDB through the moto emulator, and the in-memory store the benchmarks use), with faults
//! injected through the ports: a publish that fails or never returns, a queue that delivers twice, a
//! consumer that dies mid-batch, forged postings, balances near the overflow limit, concurrent
//! retries, and random histories against a model. The queue behaviour runs over every queue too.
//! `faults.rs` takes the same faults through the real queue to quiescence.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod audit;

use aws_sdk_dynamodb::types::AttributeValue;

use fluxo::domain::account::{AccountId, Zone};
use fluxo::domain::calendar::DateRange;
use fluxo::domain::entry::{EntryType, Posting};
use fluxo::domain::money::Amount;
use fluxo::ledger::{EntryRequest, LedgerError};
use fluxo::ports::{Applied, Clock, Rejection};
use fluxo_test_support::faults::ports::Link;
use fluxo_test_support::per_backend;
use fluxo_test_support::rig::{Backend, NOW, Queue, Rig, Seat, TODAY, TestQueue, credit, entry, key};
use jiff::SignedDuration;
use jiff::civil::{Date, date};
use proptest::prelude::*;

/// A rig over `backend` whose relay publishes into a list the scenario hands to consolidation;
/// `None` when the emulator is not installed (outside CI only).
async fn harness(backend: Backend) -> Option<Rig> {
    Rig::over(backend, Queue::Recording).await
}

// Each scenario over every store: embedded, DynamoDB on moto, and in-memory.
per_backend!(
    [embedded => Embedded, dynamodb => Dynamo, memory => Memory]
    [
        given_the_queue_is_down_then_entries_are_recorded_and_wait_for_relay_and_count_once,
        given_a_message_delivered_twice_and_five_times_then_it_counts_once,
        given_a_posting_that_does_not_match_its_entry_then_it_is_rejected_and_the_rest_apply,
        given_balances_at_the_i64_limit_then_the_overflowing_group_is_rejected_not_wrapped,
        given_one_key_sent_concurrently_then_exactly_one_entry_is_recorded,
        given_a_used_key_with_another_body_then_it_conflicts_and_writes_nothing,
        given_a_retry_after_the_backdating_window_closed_then_the_original_answer_is_replayed,
        given_reversals_then_the_original_is_marked_once_and_a_reversal_cannot_be_reversed,
        given_entries_over_several_pages_then_each_is_listed_once_in_id_order,
        given_postings_across_months_in_any_order_then_balances_carry_exactly,
        given_a_backlog_of_sixty_days_delivered_at_once_then_every_day_is_exact,
        given_an_entry_that_never_applies_then_each_reconciliation_publishes_it_again_and_the_rest_apply,
        given_entries_whose_postings_were_lost_then_reconciliation_publishes_them_after_the_grace_period,
        given_a_queue_then_messages_are_redelivered_after_the_visibility_timeout_and_dead_lettered,
        given_a_deleted_message_then_it_is_never_delivered_again,
        given_racing_consumers_with_overlapping_batches_then_each_entry_counts_once,
    ]
);

async fn given_the_queue_is_down_then_entries_are_recorded_and_wait_for_relay_and_count_once(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    h.link.set(Link::Down);
    let written = h.ledger.record_entry(&h.account, key("k1"), credit(700)).await.expect("recorded despite the queue");
    assert!(!written.replayed);
    assert!(h.relay_once().await.is_err(), "relay cannot publish while the queue is down");
    assert!(h.relay_once().await.is_err(), "and the entry still waits");
    h.link.set(Link::Up);
    assert_eq!(h.deliver().await, vec![Applied::Applied], "published once the queue is back");
    assert_eq!(h.closing(TODAY).await, (700, 1));
    assert!(h.published().await.is_empty(), "a relayed entry is not published again");
}

async fn given_a_message_delivered_twice_and_five_times_then_it_counts_once(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    h.ledger.record_entry(&h.account, key("a"), credit(100)).await.expect("a");
    h.ledger.record_entry(&h.account, key("b"), entry(EntryType::Debit, 30)).await.expect("b");
    let batch = h.published().await;
    let twice: Vec<Posting> = batch.iter().chain(batch.iter()).cloned().collect();
    let outcomes = h.ledger.consolidate(&twice).await.expect("consolidate");
    assert_eq!(outcomes, vec![Applied::Applied, Applied::Applied, Applied::Duplicate, Applied::Duplicate]);
    for _ in 0..5 {
        let again = h.ledger.consolidate(&batch).await.expect("redelivery");
        assert_eq!(again, vec![Applied::Duplicate, Applied::Duplicate]);
    }
    assert_eq!(h.closing(TODAY).await, (70, 2));
}

async fn given_a_posting_that_does_not_match_its_entry_then_it_is_rejected_and_the_rest_apply(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    h.ledger.record_entry(&h.account, key("a"), credit(100)).await.expect("a");
    let good = h.published().await.remove(0);
    let mut forged = good.clone();
    forged.amount = Amount::from_minor(1_000_000).expect("amount");
    let mut unknown = good.clone();
    unknown.entry_id = fluxo::domain::entry::EntryId::new_v7();
    let outcomes = h.ledger.consolidate(&[forged, unknown, good]).await.expect("consolidate");
    assert!(matches!(outcomes[0], Applied::Rejected(_)), "{outcomes:?}");
    assert!(matches!(outcomes[1], Applied::Rejected(_)), "{outcomes:?}");
    assert_eq!(outcomes[2], Applied::Applied);
    assert_eq!(h.closing(TODAY).await, (100, 1));
}

async fn given_balances_at_the_i64_limit_then_the_overflowing_group_is_rejected_not_wrapped(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    // A history this large takes 92,000 maximal entries; write its October rollup directly instead.
    let near_max = i64::MAX - 50;
    h.seed_october_closing(near_max).await;
    h.ledger.record_entry(&h.account, key("over"), credit(100)).await.expect("record");
    let outcomes = h.deliver().await;
    assert!(matches!(outcomes[..], [Applied::Rejected(_)]), "{outcomes:?}");
    assert_eq!(h.closing(TODAY).await, (near_max, 0), "the rejected posting left no trace");

    h.ledger.record_entry(&h.account, key("back"), entry(EntryType::Debit, 100)).await.expect("record");
    assert_eq!(h.deliver().await, vec![Applied::Applied]);
    assert_eq!(h.closing(TODAY).await, (near_max - 100, 1));
}

async fn given_one_key_sent_concurrently_then_exactly_one_entry_is_recorded(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (ledger, account) = (h.ledger.clone(), h.account.clone());
            tokio::spawn(async move { ledger.record_entry(&account, key("same"), credit(5)).await })
        })
        .collect();
    let mut fresh = 0;
    let mut bodies = Vec::new();
    for task in tasks {
        let written = task.await.expect("join").expect("recorded or replayed");
        fresh += usize::from(!written.replayed);
        bodies.push(written.response.body);
    }
    assert_eq!(fresh, 1);
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "every answer is the identical body");
    let page = h.ledger.entries(&h.account, TODAY, None, 500).await.expect("list");
    assert_eq!(page.items.len(), 1);
}

async fn given_a_used_key_with_another_body_then_it_conflicts_and_writes_nothing(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    h.ledger.record_entry(&h.account, key("k"), credit(5)).await.expect("first");
    let err = h.ledger.record_entry(&h.account, key("k"), credit(6)).await.expect_err("other body");
    assert!(matches!(err, LedgerError::Conflict(_)), "{err:?}");
    let page = h.ledger.entries(&h.account, TODAY, None, 500).await.expect("list");
    assert_eq!(page.items.len(), 1);
}

async fn given_a_retry_after_the_backdating_window_closed_then_the_original_answer_is_replayed(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let mut req = credit(9);
    req.occurred_at = Some("2026-11-20T10:00:00Z".parse().expect("instant"));
    let first = h.ledger.record_entry(&h.account, key("late"), req.clone()).await.expect("first");
    h.clock.advance(SignedDuration::from_hours(24 * 40));
    let retry = h.ledger.record_entry(&h.account, key("late"), req).await.expect("replayed");
    assert!(retry.replayed);
    assert_eq!(retry.response, first.response);
}

async fn given_a_queue_then_messages_are_redelivered_after_the_visibility_timeout_and_dead_lettered(backend: Backend) {
    let Some(q) = TestQueue::open(backend, 2).await else { return };
    q.send_raw("poison").await;
    for receive in 1..=2 {
        let got = q.inbox.receive(10).await.expect("receive");
        assert_eq!(got.len(), 1, "receive {receive}");
        assert_eq!((got[0].body.as_str(), got[0].receive_count), ("poison", receive));
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(q.inbox.receive(10).await.expect("receive").is_empty(), "the third receive dead-letters it");
    let depths = q.inbox.depths().await.expect("depths");
    assert_eq!((depths.visible, depths.in_flight, depths.dead), (0, 0, 1));
}

async fn given_a_deleted_message_then_it_is_never_delivered_again(backend: Backend) {
    let Some(q) = TestQueue::open(backend, 5).await else { return };
    q.send_raw("a").await;
    q.send_raw("b").await;
    let mut got = q.inbox.receive(10).await.expect("receive");
    if got.len() < 2 {
        got.extend(q.inbox.receive(10).await.expect("receive"));
    }
    assert_eq!(got.len(), 2);
    q.inbox.delete(got.into_iter().map(|d| d.receipt).collect()).await.expect("delete");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert!(q.inbox.receive(10).await.expect("receive").is_empty(), "deleted messages never return");
    let depths = q.inbox.depths().await.expect("depths");
    assert_eq!((depths.visible, depths.in_flight), (0, 0));
}

async fn given_reversals_then_the_original_is_marked_once_and_a_reversal_cannot_be_reversed(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let original = h.ledger.record_entry(&h.account, key("o"), credit(250)).await.expect("original");
    let original_id = entry_id(&original.response.body);
    let reversal = h.ledger.reverse_entry(&h.account, &original_id, key("r1"), None).await.expect("reversal");
    let reversal_id = entry_id(&reversal.response.body);
    let again = h.ledger.reverse_entry(&h.account, &original_id, key("r2"), None).await.expect_err("twice");
    assert!(matches!(again, LedgerError::Conflict(_)), "{again:?}");
    let of_reversal =
        h.ledger.reverse_entry(&h.account, &reversal_id, key("r3"), None).await.expect_err("of a reversal");
    assert!(matches!(of_reversal, LedgerError::Unprocessable(_)), "{of_reversal:?}");
    let replay = h.ledger.reverse_entry(&h.account, &original_id, key("r1"), None).await.expect("replay");
    assert!(replay.replayed);
    let stored = h.ledger.entry(&h.account, &original_id).await.expect("original");
    assert_eq!(stored.reversed_by, Some(reversal_id));
    h.deliver().await;
    assert_eq!(h.closing(TODAY).await, (0, 2), "a credit and its reversal cancel out");
}

async fn given_entries_over_several_pages_then_each_is_listed_once_in_id_order(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    for i in 0..7 {
        h.ledger.record_entry(&h.account, key(&format!("p{i}")), credit(10 + i)).await.expect("record");
    }
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let page = h.ledger.entries(&h.account, TODAY, after, 3).await.expect("page");
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|e| e.id));
        after = page.more_after;
        if after.is_none() {
            break;
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((seen.len(), seen.clone()), (7, sorted));
}

async fn given_postings_across_months_in_any_order_then_balances_carry_exactly(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let at = |raw: &str| -> EntryRequest {
        let mut req = credit(1_000);
        req.occurred_at = Some(raw.parse().expect("instant"));
        req
    };
    // 2026-11-01T01:00Z is still October 31st in São Paulo.
    h.ledger.record_entry(&h.account, key("nov"), at("2026-11-10T12:00:00Z")).await.expect("nov");
    let nov = h.published().await;
    h.ledger.record_entry(&h.account, key("oct"), at("2026-11-01T01:00:00Z")).await.expect("oct");
    h.ledger.record_entry(&h.account, key("oct2"), at("2026-10-25T12:00:00Z")).await.expect("oct2");
    let oct = h.published().await;
    h.ledger.consolidate(&nov).await.expect("november first");
    h.ledger.consolidate(&oct).await.expect("then october");
    assert_eq!(h.closing(date(2026, 10, 31)).await, (2_000, 1));
    assert_eq!(h.closing(date(2026, 11, 9)).await, (2_000, 0));
    assert_eq!(h.closing(date(2026, 11, 10)).await, (3_000, 1));
    let range = DateRange::new(date(2026, 10, 1), date(2026, 12, 31)).expect("range");
    let (_, days, _) = h.ledger.daily(&h.account, range).await.expect("range");
    assert_eq!(days.len(), 92);
    assert_eq!(days.last().map(|d| d.closing), Some(3_000));
}

async fn given_a_backlog_of_sixty_days_delivered_at_once_then_every_day_is_exact(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    // Consolidation was down for two months: one entry a day waits on the queue.
    let first = h.clock.now();
    for day in 0..60 {
        h.ledger.record_entry(&h.account, key(&format!("d{day}")), credit(100 + day)).await.expect("record");
        h.clock.advance(SignedDuration::from_hours(24));
    }
    let outcomes = h.deliver().await;
    assert!(outcomes.iter().all(|o| *o == Applied::Applied), "{outcomes:?}");
    let from = fluxo::domain::calendar::business_date(first, &Zone::parse("America/Sao_Paulo").expect("zone"));
    let to = from.checked_add(jiff::Span::new().days(59)).expect("date");
    let (_, days, _) = h.ledger.daily(&h.account, DateRange::new(from, to).expect("range")).await.expect("range");
    let mut expected_closing = 0;
    for (i, day) in days.iter().enumerate() {
        expected_closing += 100 + i as i64;
        assert_eq!((day.entry_count, day.closing), (1, expected_closing), "{}", day.date);
    }
}

async fn given_an_entry_that_never_applies_then_each_reconciliation_publishes_it_again_and_the_rest_apply(
    backend: Backend,
) {
    let Some(h) = harness(backend).await else { return };
    h.seed_october_closing(i64::MAX - 50).await;
    h.ledger.record_entry(&h.account, key("doomed"), credit(100)).await.expect("record");
    h.ledger.record_entry(&h.account, key("fine"), entry(EntryType::Debit, 10)).await.expect("record");
    let outcomes = h.deliver().await;
    assert!(matches!(outcomes[..], [Applied::Rejected(Rejection::Overflow), Applied::Applied]), "{outcomes:?}");
    // Within the grace period reconciliation leaves the entry to the outbox; after it, each pass
    // publishes it again, and it is rejected (to the dead-letter queue) again.
    assert_eq!(h.ledger.reconcile().await.expect("reconcile").republished, 0, "inside the grace period");
    for _ in 0..2 {
        h.clock.advance(SignedDuration::from_mins(11));
        assert_eq!(h.ledger.reconcile().await.expect("reconcile").republished, 1);
        let again = h.ledger.consolidate(&h.link.drain()).await.expect("consolidate");
        assert!(matches!(again[..], [Applied::Rejected(Rejection::Overflow)]), "{again:?}");
    }
    assert_eq!(h.closing(TODAY).await, (i64::MAX - 60, 1));
}

async fn given_entries_whose_postings_were_lost_then_reconciliation_publishes_them_after_the_grace_period(
    backend: Backend,
) {
    let Some(h) = harness(backend).await else { return };
    let mut late = credit(40);
    late.occurred_at = Some(h.clock.now().checked_sub(SignedDuration::from_hours(24 * 20)).expect("instant"));
    h.ledger.record_entry(&h.account, key("today"), credit(500)).await.expect("record");
    h.ledger.record_entry(&h.account, key("backdated"), late).await.expect("record");
    h.ledger.record_entry(&h.account, key("applied"), entry(EntryType::Debit, 5)).await.expect("record");
    // GIVEN the queue lost the first two postings: only the third is consolidated.
    let mut published = h.published().await;
    let applied = published.pop().expect("three postings");
    assert_eq!(h.ledger.consolidate(&[applied]).await.expect("consolidate"), [Applied::Applied]);
    // WHEN reconciliation runs after the grace period
    h.clock.advance(SignedDuration::from_mins(11));
    let report = h.ledger.reconcile().await.expect("reconcile");
    // THEN it publishes exactly the two lost entries, and they count once.
    assert_eq!((report.accounts, report.republished), (1, 2), "{report:?}");
    assert!(report.days >= 21, "the window reaches the backdated date: {report:?}");
    let outcomes = h.ledger.consolidate(&h.link.drain()).await.expect("consolidate");
    assert_eq!(outcomes, [Applied::Applied, Applied::Applied]);
    assert_eq!(h.closing(TODAY).await, (535, 2));
    assert_eq!(h.ledger.reconcile().await.expect("reconcile").republished, 0, "nothing is missing any more");
}

fn entry_id(body: &str) -> fluxo::domain::entry::EntryId {
    let value: serde_json::Value = serde_json::from_str(body).expect("json");
    fluxo::domain::entry::EntryId::parse(value["id"].as_str().expect("id")).expect("entry id")
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Step {
    /// Record an entry under key `k` (keys repeat, so some steps are retries or reused keys),
    /// occurred `days_back` days ago.
    Record { k: u8, credit: bool, amount: i64, days_back: i64 },
    /// Reverse the entry recorded under key `k`, if there is one (again and again, sometimes).
    Reverse { k: u8 },
    /// Relay publishes what waits and dies before acknowledging it: it comes again.
    RelayDies,
    /// Deliver what was published so far, `times` times.
    Deliver { times: u8 },
    /// The consumer of the next delivery applies its first `applied` postings and dies before
    /// deleting any; the messages come back later.
    ConsumerDies { applied: u8 },
    /// The publish of the next records fails, then the queue comes back.
    QueueDown(bool),
    /// Time passes and relay runs.
    Relay,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u8..12, any::<bool>(), 1i64..1_000_000, 0i64..40).prop_map(|(k, credit, amount, days_back)| Step::Record { k, credit, amount, days_back }),
        2 => (0u8..12).prop_map(|k| Step::Reverse { k }),
        1 => Just(Step::RelayDies),
        3 => (1u8..4).prop_map(|times| Step::Deliver { times }),
        1 => (0u8..6).prop_map(|applied| Step::ConsumerDies { applied }),
        1 => any::<bool>().prop_map(Step::QueueDown),
        1 => Just(Step::Relay),
    ]
}

/// Failing cases are saved beside this file (`ledger.proptest-regressions`) and replayed first on
/// every later run; the file is committed.
fn config(cases: u32) -> ProptestConfig {
    let persistence = proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions");
    ProptestConfig { cases, failure_persistence: Some(Box::new(persistence)), ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(32))]

    /// GIVEN a random history of records, retries, reused keys, reversals, backdated entries,
    /// redeliveries, queue outages, relay runs and crashes of the function and of the consumer
    /// WHEN everything is finally relayed and delivered
    /// THEN daily and closing balances and each day's entry listing equal the model's: every
    /// recorded entry counted exactly once.
    #[test]
    fn random_histories_match_the_model_embedded(steps in prop::collection::vec(step(), 1..40)) {
        run_history(Backend::Embedded, steps);
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn random_histories_match_the_model_memory(steps in prop::collection::vec(step(), 1..60)) {
        run_history(Backend::Memory, steps);
    }
}

proptest! {
    // Each case creates a table in the emulator: fewer cases, the same property.
    #![proptest_config(config(6))]

    #[test]
    fn random_histories_match_the_model_dynamodb(steps in prop::collection::vec(step(), 1..30)) {
        run_history(Backend::Dynamo, steps);
    }
}

fn run_history(backend: Backend, steps: Vec<Step>) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(check_history(backend, steps));
}

/// The model: every entry the store holds, by the key that recorded it (`k<n>`, or `r<n>` for the
/// reversal of `k<n>`), with its id, business date and signed amount.
type Model = std::collections::BTreeMap<String, (String, Date, i64)>;

fn modelled(written: &fluxo::ledger::Written) -> (String, Date) {
    let body: serde_json::Value = serde_json::from_str(&written.response.body).expect("json");
    let day = body["business_date"].as_str().expect("date").parse().expect("date");
    (body["id"].as_str().expect("id").to_owned(), day)
}

/// Takes one step of a random history on `rig`, keeping the model and the batch still unacknowledged.
async fn take_step(rig: &Rig, step: Step, model: &mut Model, unacked: &mut Vec<Posting>) {
    match step {
        Step::Record { k, credit, amount, days_back } => {
            let kind = if credit { EntryType::Credit } else { EntryType::Debit };
            let mut req = entry(kind, amount);
            let at = rig.clock.now().checked_sub(SignedDuration::from_hours(24 * days_back)).expect("instant");
            req.occurred_at = Some(at);
            match rig.ledger.record_entry(&rig.account, key(&format!("k{k}")), req).await {
                Ok(written) if !written.replayed => {
                    let (id, day) = modelled(&written);
                    model.insert(format!("k{k}"), (id, day, if credit { amount } else { -amount }));
                }
                Ok(_) | Err(LedgerError::Conflict(_) | LedgerError::Field { .. }) => {}
                Err(other) => panic!("unexpected refusal: {other:?}"),
            }
        }
        Step::Reverse { k } => {
            let Some((id, _, net)) = model.get(&format!("k{k}")).cloned() else { return };
            let id = fluxo::domain::entry::EntryId::parse(&id).expect("id");
            match rig.ledger.reverse_entry(&rig.account, &id, key(&format!("r{k}")), None).await {
                Ok(written) if !written.replayed => {
                    let (id, day) = modelled(&written);
                    model.insert(format!("r{k}"), (id, day, -net));
                }
                Ok(_) | Err(LedgerError::Conflict(_)) => {}
                Err(other) => panic!("unexpected refusal of a reversal: {other:?}"),
            }
        }
        // Whether or not the queue took the postings, nothing is acknowledged.
        Step::RelayDies => drop(rig.relay_dies().await),
        Step::Deliver { times } => {
            let mut batch = std::mem::take(unacked);
            batch.extend(rig.published().await);
            for _ in 0..times {
                rig.ledger.consolidate(&batch).await.expect("consolidate");
            }
        }
        Step::ConsumerDies { applied } => {
            let batch = rig.published().await;
            let applied = usize::from(applied);
            if applied < batch.len() {
                rig.consumer.die_after(applied);
                let ledger = rig.ledger.clone();
                let dying = tokio::spawn({
                    let batch = batch.clone();
                    async move { ledger.consolidate(&batch).await }
                });
                for _ in 0..5_000 {
                    if rig.consumer.died() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                assert!(rig.consumer.died(), "the consumer applied its part and died");
                dying.abort();
            }
            // Nothing was deleted: the whole batch comes back.
            unacked.extend(batch);
        }
        Step::QueueDown(down) => rig.link.set(if down { Link::Down } else { Link::Up }),
        Step::Relay => {
            rig.clock.advance(SignedDuration::from_mins(2));
            rig.relay_all().await;
        }
    }
}

async fn check_history(backend: Backend, steps: Vec<Step>) {
    let Some(h) = harness(backend).await else { return };
    let mut model = Model::new();
    let mut unacked = Vec::new();
    for step in steps {
        take_step(&h, step, &mut model, &mut unacked).await;
    }
    h.link.set(Link::Up);
    h.clock.advance(SignedDuration::from_hours(1));
    h.relay_all().await;
    h.ledger.consolidate(&unacked).await.expect("redelivery");
    h.deliver().await;
    let days: std::collections::BTreeSet<Date> = model.values().map(|(_, d, _)| *d).collect();
    for day in days {
        let expected: i64 = model.values().filter(|(_, d, _)| *d <= day).map(|(_, _, net)| net).sum();
        let mut of_day: Vec<(String, i64)> =
            model.values().filter(|(_, d, _)| *d == day).map(|(id, _, net)| (id.clone(), *net)).collect();
        of_day.sort();
        let count = i64::try_from(of_day.len()).expect("count");
        assert_eq!(h.closing(day).await, (expected, count), "closing of {day}");
        let page = h.ledger.entries(&h.account, day, None, 500).await.expect("entries");
        let listed: Vec<(String, i64)> = page
            .items
            .iter()
            .map(|e| (e.id.to_string(), if e.kind == EntryType::Credit { e.amount.minor() } else { -e.amount.minor() }))
            .collect();
        assert_eq!(listed, of_day, "entries of {day}");
    }
}

async fn given_racing_consumers_with_overlapping_batches_then_each_entry_counts_once(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    for i in 0..24 {
        h.ledger.record_entry(&h.account, key(&format!("r{i}")), credit(10 + i)).await.expect("record");
    }
    let all = h.published().await;
    let reversed: Vec<Posting> = all.iter().rev().cloned().collect();
    let (first, second) = all.split_at(all.len() / 2);
    // Four consumers hold overlapping batches of one account at once, as redeliveries and relay
    // duplicates give them.
    let (a, b, c, d) = tokio::join!(
        h.ledger.consolidate(&all),
        h.ledger.consolidate(&reversed),
        h.ledger.consolidate(first),
        h.ledger.consolidate(second),
    );
    let mut applied = 0;
    for outcomes in [a, b, c, d] {
        let outcomes = outcomes.expect("consolidate");
        applied += outcomes.iter().filter(|o| **o == Applied::Applied).count();
        assert!(
            outcomes.iter().all(|o| matches!(o, Applied::Applied | Applied::Duplicate | Applied::Deferred)),
            "{outcomes:?}"
        );
    }
    assert!(applied <= 24, "{applied} postings applied for 24 entries");
    // What was deferred comes again, as the queue would redeliver it.
    let last = h.ledger.consolidate(&all).await.expect("redelivery");
    let total = applied + last.iter().filter(|o| **o == Applied::Applied).count();
    assert_eq!(total, 24, "each entry applied exactly once: {last:?}");
    assert_eq!(h.closing(TODAY).await, ((10..34).sum::<i64>(), 24));
}

/// GIVEN a table written by the design before applied marks were items of their own: a rollup lock
/// that counts in `version`, an entry marked by its `applied_at`, a month rollup, and no latest month
/// WHEN consolidation meets it THEN the marked entry is a duplicate, new entries apply once over the
/// stored month, and the lock moves to `rounds`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_given_a_table_of_the_earlier_design_then_consolidation_carries_on_and_counts_once() {
    let Some(h) = harness(Backend::Dynamo).await else { return };
    let Seat::Dynamo { client, table, .. } = &h.seat else { unreachable!("a DynamoDB rig") };
    h.ledger.record_entry(&h.account, key("old"), credit(100)).await.expect("old");
    let old = h.published().await;
    let pk = fluxo::adapters::aws::item::pk(&h.account);
    let slot = old[0].entry_id.slot();
    client
        .update_item()
        .table_name(table)
        .set_key(Some(fluxo::adapters::aws::item::entry_key(&h.account, slot)))
        .update_expression("SET applied_at = :at")
        .expression_attribute_values(":at", AttributeValue::N("1".into()))
        .send()
        .await
        .expect("an entry applied the earlier way");
    let lock = fluxo::adapters::aws::item::key(pk.clone(), "#ROLLUP".into());
    let mut legacy = lock.clone();
    legacy.insert("version".into(), AttributeValue::N("7".into()));
    client.put_item().table_name(table).set_item(Some(legacy)).send().await.expect("a lock of the earlier design");
    h.seed_october_closing(500).await;
    let mut day = fluxo::adapters::aws::item::day_item(
        &h.account,
        TODAY,
        fluxo::domain::balance::Movement { credits: 100, debits: 0, entry_count: 1 },
    );
    day.remove("GSI1PK");
    let november = fluxo::domain::balance::MonthRollup {
        month: date(2026, 11, 1),
        movement: fluxo::domain::balance::Movement { credits: 100, debits: 0, entry_count: 1 },
        closing: 600,
    };
    let month = fluxo::adapters::aws::item::month_item(&h.account, &november);
    client.put_item().table_name(table).set_item(Some(month)).send().await.expect("its month");

    // A day whose totals differ from its listing makes reconciliation read its entries: the one
    // applied the earlier way is not published again.
    let mut short = fluxo::adapters::aws::item::day_item(&h.account, TODAY, Default::default());
    short.remove("GSI1PK");
    client.put_item().table_name(table).set_item(Some(short)).send().await.expect("a short day");
    h.clock.advance(SignedDuration::from_mins(11));
    assert_eq!(h.ledger.reconcile().await.expect("reconcile").republished, 0);
    client.put_item().table_name(table).set_item(Some(day)).send().await.expect("its day");

    assert_eq!(h.ledger.consolidate(&old).await.expect("redelivery"), vec![Applied::Duplicate]);
    h.ledger.record_entry(&h.account, key("new"), credit(40)).await.expect("new");
    assert_eq!(h.deliver().await, vec![Applied::Applied]);
    assert_eq!(h.ledger.consolidate(&old).await.expect("redelivery"), vec![Applied::Duplicate]);
    assert_eq!(h.closing(TODAY).await, (640, 2));
    let stored = client.get_item().table_name(table).set_key(Some(lock)).consistent_read(true).send().await;
    let stored = stored.expect("lock").item.expect("a lock");
    assert_eq!(stored.get("rounds"), Some(&AttributeValue::N("8".into())), "{stored:?}");
    assert!(!stored.contains_key("version"), "the earlier counter is gone: {stored:?}");
}
