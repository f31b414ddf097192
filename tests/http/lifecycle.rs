//! The server over its life: duplicate deliveries, kill -9, consolidation off, SIGTERM.

use super::*;

#[tokio::test]
async fn given_duplicate_deliveries_when_consolidation_resumes_then_each_entry_counts_once() {
    // Reconciliation publishes every entry still in no balance again and again.
    let relaying =
        Config::new().consolidation_off().var("FLUXO_RECONCILE_GRACE", "0s").var("FLUXO_RECONCILE_INTERVAL", "50ms");
    let app = spawn_with(relaying).await;
    let owner = app.merchant(SHOP);
    owner.open().await;
    let (d1, d2) = (days_before(today(), 2), yesterday());
    let first =
        vec![owner.record(&credit(1_000, &local_noon(d1))).await, owner.record(&debit(300, &local_noon(d1))).await];
    let mut second = Vec::new();
    for (kind, amount) in [("credit", 5_000), ("debit", 1_200), ("credit", 7)] {
        second.push(owner.record(&json!({"type": kind, "amount": amount, "occurred_at": local_noon(d2)})).await);
    }
    // GIVEN the queue holds every entry several times over.
    let queue = app.queue().await;
    // More than one consumer batch (100 messages), so duplicates meet within and across batches.
    let backlog = poll::until(|| queued(&queue), |n| *n >= 120).await;
    assert!(backlog >= 120, "reconciliation should have published the 5 entries many times; queued: {backlog}");
    // WHEN consolidation runs again over that backlog.
    let app = app.restart(&Config::new()).await;
    let owner = app.merchant(SHOP);
    // THEN each entry moves its balance exactly once.
    let want1 = Day::of(0, &first);
    let want2 = Day::of(want1.closing, &second);
    assert_eq!(owner.day_when(d2, want2).await, want2);
    let left = poll::until(|| queued(&queue), |n| *n == 0).await;
    assert_eq!(left, 0, "the backlog drains");
    assert_eq!(owner.day(d1).await, want1);
    assert_eq!(owner.day(d2).await, want2);
}

/// Posts every request, at most `IN_FLIGHT` at a time, and kills the runner with SIGKILL once
/// `KILL_AFTER` of them were acknowledged. Returns every entry answered 201.
async fn post_until_killed(app: &mut TestApp, owner: &Merchant, requests: &[(String, Value)]) -> Vec<Value> {
    const IN_FLIGHT: usize = 8;
    const KILL_AFTER: usize = 15;
    let gate = Arc::new(Semaphore::new(IN_FLIGHT));
    let acked = Arc::new(AtomicUsize::new(0));
    let enough = Arc::new(Notify::new());
    let mut tasks = JoinSet::new();
    for (k, body) in requests {
        let request = owner.post_entry(k, body);
        let (gate, acked, enough) = (gate.clone(), acked.clone(), enough.clone());
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("the gate stays open");
            let reply = Reply::try_of(request).await.ok()?;
            if reply.status == 201 && acked.fetch_add(1, Ordering::SeqCst) + 1 == KILL_AFTER {
                enough.notify_one();
            }
            Some(reply)
        });
    }
    let reached = tokio::time::timeout(SETTLE_MAX, enough.notified()).await;
    assert!(reached.is_ok(), "only {} entries were acknowledged", acked.load(Ordering::SeqCst));
    app.kill().await;
    let mut entries = Vec::new();
    for reply in tasks.join_all().await.into_iter().flatten() {
        entries.push(reply.expect(201));
    }
    entries
}

#[tokio::test]
async fn given_entries_in_flight_when_the_server_is_killed_then_every_acknowledged_entry_survives_and_counts_once() {
    let config = Config::new().var("FLUXO_QUEUE_VISIBILITY", "30s");
    let mut app = spawn_with(config.clone()).await;
    let owner = app.merchant(SHOP);
    owner.open().await;
    let day = yesterday();
    let at = local_noon(day);
    let requests: Vec<(String, Value)> =
        (1..=50_i64).map(|i| (key(), if i % 3 == 0 { debit(i * 101, &at) } else { credit(i * 101, &at) })).collect();
    let acked = post_until_killed(&mut app, &owner, &requests).await;
    assert!(acked.len() < requests.len(), "the kill should land partway: all {} were acknowledged", acked.len());
    let restarted = std::time::Instant::now();
    let app = app.restart(&config).await;
    let owner = app.merchant(SHOP);
    for entry in &acked {
        assert_eq!(Reply::of(owner.get_entry(&id(entry))).await.expect(200), *entry, "an acknowledged entry was lost");
    }
    assert_counted_once(&owner, day).await;
    // A figure, not a bound (BENCHMARKS.md, "Recovery after kill -9"): the outbox and the released
    // in-flight messages bring every entry in without waiting for a visibility timeout.
    eprintln!(
        "after kill -9: every acknowledged entry in its balance {:?} after the restart began",
        restarted.elapsed()
    );
    retry_all(&owner, &requests, &acked).await;
    let all = assert_counted_once(&owner, day).await;
    assert_eq!(all.len(), requests.len(), "retrying with the same keys completes the set exactly once");
    let sum: i64 = requests.iter().map(|(_, b)| if b["type"] == "credit" { amount(b) } else { -amount(b) }).sum();
    assert_eq!(Day::of(0, &all).closing, sum);
}

/// Asserts that `day` lists each entry once and that its balance counts exactly those entries, once
/// consolidation settles. Returns the entries.
async fn assert_counted_once(owner: &Merchant, day: Date) -> Vec<Value> {
    let existing = owner.entries_on(day).await;
    let mut unique = ids(&existing);
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), existing.len(), "an entry is listed twice");
    let want = Day::of(0, &existing);
    assert_eq!(owner.day_when(day, want).await, want, "the balance counts every existing entry once");
    existing
}

/// Retries every request with its own key: acknowledged ones replay, the others complete.
async fn retry_all(owner: &Merchant, requests: &[(String, Value)], acked: &[Value]) {
    let acked_ids = ids(acked);
    for (k, body) in requests {
        let reply = Reply::of(owner.post_entry(k, body)).await;
        assert!([200, 201].contains(&reply.status), "retry answered {}: {}", reply.status, reply.text);
        let entry = reply.json();
        if reply.status == 201 {
            assert!(!acked_ids.contains(&id(&entry)), "an acknowledged entry was written again");
        }
    }
}

#[tokio::test]
async fn given_consolidation_is_off_when_entries_are_posted_then_balances_wait_until_it_is_back_on() {
    let app = spawn_with(Config::new().consolidation_off()).await;
    let owner = app.merchant(SHOP);
    owner.open().await;
    let day = yesterday();
    let at = local_noon(day);
    let entries = vec![
        owner.record(&credit(4_000, &at)).await,
        owner.record(&debit(1_500, &at)).await,
        owner.record(&credit(25, &at)).await,
    ];
    let queue = app.queue().await;
    assert_eq!(poll::until(|| queued(&queue), |n| *n == 3).await, 3, "each entry was published once");
    let moved = poll::throughout(Duration::from_millis(1_500), || owner.day(day), |d| *d == Day::quiet(0)).await;
    assert_eq!(moved, None, "the balance moved while consolidation was off");
    // Listed in id order: by the millisecond each was recorded, then by its key's slot.
    let mut in_id_order = entries.clone();
    in_id_order.sort_by_key(id);
    assert_eq!(owner.entries_on(day).await, in_id_order, "the entries are recorded all the same");
    let app = app.restart(&Config::new()).await;
    let owner = app.merchant(SHOP);
    let want = Day::of(0, &entries);
    assert_eq!(owner.day_when(day, want).await, want);
}

#[tokio::test]
async fn sigterm_stops_the_server_gracefully_with_exit_status_0() {
    let (mut app, owner) = shop().await;
    let entry = owner.record(&credit(50, &local_noon(yesterday()))).await;
    let status = app.terminate().await;
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    let app = app.restart(&Config::new()).await;
    let owner = app.merchant(SHOP);
    assert_eq!(Reply::of(owner.get_entry(&id(&entry))).await.expect(200)["id"], id(&entry));
}

#[tokio::test]
async fn sigterm_right_after_the_listening_banner_still_stops_gracefully() {
    // The banner announces readiness, so a supervisor may stop the runner at once. The window before
    // the handler is installed is short: several attempts make a missed SIGTERM show.
    for attempt in 1..=20 {
        let mut app = spawn_app().await;
        let status = app.terminate().await;
        assert!(status.success(), "attempt {attempt}: exit status after SIGTERM right after the banner: {status:?}");
    }
}
