//! The audit over every store: healthy books agree, and each kind of damage a store can suffer
//! (a day counted twice, an applied mark lost, a monthly rollup overwritten, a reversal mark lost,
//! an entry that never reached its balance) is named, and nothing else is.

use fluxo::audit::{AccountAudit, Books, Scope};
use fluxo::domain::audit::{Finding, ReversalFault, Total};
use fluxo::domain::balance::{MonthRollup, Movement};
use fluxo::domain::entry::EntryId;

use super::*;

per_backend!(
    [embedded => Embedded, dynamodb => Dynamo, memory => Memory]
    [
        given_healthy_books_over_two_months_then_the_audit_finds_nothing_and_counts_every_entry,
        given_damaged_books_then_the_audit_names_each_damage_and_nothing_else,
        given_an_entry_in_no_balance_then_it_is_on_its_way_until_the_grace_period_and_a_difference_after,
        given_more_entries_on_a_date_than_a_page_holds_then_each_is_counted_once,
        given_a_range_then_its_months_are_audited_from_the_stored_opening_and_none_before_the_account,
    ]
);

/// What every scenario starts from: credits and debits on three dates over two months, one credit
/// reversed, all consolidated. Returns the reversed original's id.
async fn history(h: &Rig) -> EntryId {
    let at = |raw: &str, mut req: EntryRequest| {
        req.occurred_at = Some(raw.parse().expect("instant"));
        req
    };
    h.ledger.record_entry(&h.account, key("oct"), at("2026-10-25T12:00:00Z", credit(1_000))).await.expect("oct");
    h.ledger
        .record_entry(&h.account, key("nov"), at("2026-11-10T12:00:00Z", entry(EntryType::Debit, 300)))
        .await
        .expect("nov");
    let today = h.ledger.record_entry(&h.account, key("today"), credit(700)).await.expect("today");
    let original = entry_id(&today.response.body);
    h.ledger.reverse_entry(&h.account, &original, key("undo"), None).await.expect("reversal");
    h.deliver().await;
    original
}

async fn audit(h: &Rig) -> AccountAudit {
    audit_range(h, None, None).await
}

async fn audit_range(h: &Rig, from: Option<Date>, to: Option<Date>) -> AccountAudit {
    let books = Books { store: h.ledger.store.clone(), balances: h.ledger.balances.clone() };
    let account = h.ledger.store.get_account(&h.account).await.expect("read").expect("account");
    let scope = Scope { from, to, now: h.clock.now(), grace: SignedDuration::from_mins(10) };
    books.audit(&account, scope, &|_| {}).await.expect("audit")
}

async fn given_healthy_books_over_two_months_then_the_audit_finds_nothing_and_counts_every_entry(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    history(&h).await;
    let audit = audit(&h).await;
    assert_eq!(audit.findings, [], "healthy books");
    assert_eq!((audit.entries, audit.pending), (4, 0));
    // The account was created on November 23rd: entries may be backdated to October 23rd, so the
    // audit covers October and November whole, and reads the dates that can hold entries today.
    assert_eq!((audit.from, audit.to, audit.dates), (date(2026, 10, 1), date(2026, 11, 30), 54));
}

async fn given_damaged_books_then_the_audit_names_each_damage_and_nothing_else(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    let original = history(&h).await;
    let nov10 = date(2026, 11, 10);
    // A day counted twice: November 10th's one debit applied again.
    damage(&h, Damage::Day(nov10, Movement { credits: 0, debits: 600, entry_count: 2 })).await;
    // October's rollup overwritten with another closing balance.
    let october = MonthRollup {
        month: date(2026, 10, 1),
        movement: Movement { credits: 1_000, debits: 0, entry_count: 1 },
        closing: 5,
    };
    damage(&h, Damage::Month(october)).await;
    // The reversed original forgets both its applied mark and its reversal.
    damage(&h, Damage::Forget(original)).await;
    // Past the grace period, an unapplied entry must be in its balance by now.
    h.clock.advance(SignedDuration::from_mins(15));
    let audit = audit(&h).await;
    let mut expected = vec![
        Finding::Day { date: nov10, total: Total::Debits, stored: 600, expected: 300 },
        Finding::Day { date: nov10, total: Total::EntryCount, stored: 2, expected: 1 },
        Finding::Month { month: date(2026, 10, 1), total: Total::Closing, stored: 5, expected: 1_000 },
        Finding::NotApplied { date: TODAY, entry: original, recorded_at: NOW.parse().expect("now") },
    ];
    let reversal = audit.findings.iter().find_map(|f| match f {
        Finding::Reversal { entry, other, fault: ReversalFault::OriginalNotMarked } if *other == original => {
            Some(*entry)
        }
        _ => None,
    });
    let reversal = reversal.unwrap_or_else(|| panic!("the reversal's lost mark is not named: {:?}", audit.findings));
    expected.push(Finding::Reversal { entry: reversal, other: original, fault: ReversalFault::OriginalNotMarked });
    let mut found = audit.findings.clone();
    found.sort_by_key(|f| format!("{f:?}"));
    expected.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(found, expected);
}

async fn given_an_entry_in_no_balance_then_it_is_on_its_way_until_the_grace_period_and_a_difference_after(
    backend: Backend,
) {
    let Some(h) = harness(backend).await else { return };
    history(&h).await;
    let lost = h.ledger.record_entry(&h.account, key("lost"), credit(40)).await.expect("record");
    let lost = entry_id(&lost.response.body);
    h.clock.advance(SignedDuration::from_mins(5));
    let young = audit(&h).await;
    assert_eq!((young.findings.len(), young.pending), (0, 1), "{:?}", young.findings);
    h.clock.advance(SignedDuration::from_mins(10));
    let overdue = audit(&h).await;
    assert_eq!(
        overdue.findings,
        [
            Finding::Day { date: TODAY, total: Total::Credits, stored: 700, expected: 740 },
            Finding::Day { date: TODAY, total: Total::EntryCount, stored: 2, expected: 3 },
            Finding::Month { month: date(2026, 11, 1), total: Total::Credits, stored: 700, expected: 740 },
            Finding::Month { month: date(2026, 11, 1), total: Total::EntryCount, stored: 3, expected: 4 },
            Finding::Month { month: date(2026, 11, 1), total: Total::Closing, stored: 700, expected: 740 },
            Finding::NotApplied { date: TODAY, entry: lost, recorded_at: NOW.parse().expect("now") },
        ]
    );
}

async fn given_more_entries_on_a_date_than_a_page_holds_then_each_is_counted_once(backend: Backend) {
    let Some(h) = harness(backend).await else { return };
    for i in 0..510 {
        h.ledger.record_entry(&h.account, key(&format!("many-{i}")), credit(1 + i)).await.expect("record");
    }
    h.deliver().await;
    let healthy = audit(&h).await;
    assert_eq!((healthy.findings.len(), healthy.entries), (0, 510), "{:?}", healthy.findings);
    damage(&h, Damage::Day(TODAY, Movement { credits: 1, debits: 0, entry_count: 1 })).await;
    let damaged = audit(&h).await;
    let sum: i64 = (1..=510).sum();
    assert!(damaged.findings.contains(&Finding::Day { date: TODAY, total: Total::Credits, stored: 1, expected: sum }));
}

async fn given_a_range_then_its_months_are_audited_from_the_stored_opening_and_none_before_the_account(
    backend: Backend,
) {
    let Some(h) = harness(backend).await else { return };
    history(&h).await;
    let october = MonthRollup {
        month: date(2026, 10, 1),
        movement: Movement { credits: 1_000, debits: 0, entry_count: 1 },
        closing: 5,
    };
    damage(&h, Damage::Month(october)).await;
    // From November, October's stored closing is taken as given: November's stored closing no
    // longer follows from it.
    let november = audit_range(&h, Some(date(2026, 11, 5)), None).await;
    assert_eq!(
        (november.from, november.to, november.dates, november.entries),
        (date(2026, 11, 1), date(2026, 11, 30), 23, 3)
    );
    assert_eq!(
        november.findings,
        [Finding::Month { month: date(2026, 11, 1), total: Total::Closing, stored: 700, expected: -295 }]
    );
    let before = audit_range(&h, None, Some(date(2026, 9, 30))).await;
    assert_eq!((before.dates, before.findings.len()), (0, 0), "nothing before the account's first possible date");
}

/// A damage done under the ports, as an operator's mistake or a bug would.
enum Damage {
    /// A day's totals overwritten.
    Day(Date, Movement),
    /// A month's rollup overwritten.
    Month(MonthRollup),
    /// An entry's applied mark and reversal mark lost.
    Forget(EntryId),
}

/// Does `damage` under the ports of `rig`'s store.
async fn damage(rig: &Rig, damage: Damage) {
    match (&rig.seat, damage) {
        (Seat::Memory(store), Damage::Day(day, m)) => store.put_day(&rig.account, day, m).expect("day"),
        (Seat::Memory(store), Damage::Month(r)) => store.put_month(&rig.account, r).expect("month"),
        (Seat::Memory(store), Damage::Forget(id)) => store.forget(&rig.account, &id, true, true).expect("forget"),
        (Seat::Embedded(dir), damage) => {
            let db = rusqlite::Connection::open(dir.path().join("ledger.sqlite")).expect("open");
            let done = match damage {
                Damage::Day(day, m) => db.execute(
                    "INSERT OR REPLACE INTO daily_totals VALUES ('shop', ?1, ?2, ?3, ?4)",
                    rusqlite::params![day.to_string(), m.credits, m.debits, m.entry_count],
                ),
                Damage::Month(r) => db.execute(
                    "INSERT OR REPLACE INTO monthly_totals VALUES ('shop', ?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![
                        r.month.to_string(),
                        r.movement.credits,
                        r.movement.debits,
                        r.movement.entry_count,
                        r.closing
                    ],
                ),
                Damage::Forget(id) => db.execute(
                    "UPDATE entries SET applied_at = NULL, reversed_by = NULL WHERE id = ?1",
                    [id.to_string()],
                ),
            };
            assert_eq!(done.expect("damage"), 1);
        }
        (Seat::Dynamo { client, table, .. }, damage) => dynamo_damage(client, table, &rig.account, damage).await,
    }
}

async fn dynamo_damage(client: &aws_sdk_dynamodb::Client, table: &str, account: &AccountId, damage: Damage) {
    use fluxo::adapters::aws::item;
    let put = |item| client.put_item().table_name(table).set_item(Some(item)).send();
    match damage {
        Damage::Day(day, m) => drop(put(item::day_item(account, day, m)).await.expect("day")),
        Damage::Month(r) => drop(put(item::month_item(account, &r)).await.expect("month")),
        Damage::Forget(id) => {
            let slot = id.slot();
            let mark = client.delete_item().table_name(table).set_key(Some(item::mark_key(account, slot)));
            mark.send().await.expect("mark");
            // The latest round's slots count as applied until the next round: forget them too.
            let lock = client.update_item().table_name(table).set_key(Some(item::lock_key(account)));
            lock.update_expression("REMOVE pending").send().await.expect("lock");
            let entry = client.update_item().table_name(table).set_key(Some(item::entry_key(account, slot)));
            entry.update_expression("REMOVE reversed_by").send().await.expect("entry");
        }
    }
}
