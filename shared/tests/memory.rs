//! The in-memory store the benchmarks run on, by itself: accounts, recording once per key, applying
//! each posting once, the outbox, and an overflow that rejects one posting alone. The conformance
//! suite (`ledger/`) runs the ledger's use cases over it beside the other stores.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use fluxo::adapters::memory::MemoryStore;
use fluxo::domain::account::{Account, AccountId, AccountName, Currency, Zone};
use fluxo::domain::balance::{MonthRollup, Movement};
use fluxo::domain::entry::EntryType;
use fluxo::ports::{Applied, BalanceStore, LedgerStore, Outbox, PutAccount, Recorded};
use fluxo_test_support::rig::new_entry;
use jiff::Timestamp;
use jiff::civil::date;

fn shop() -> AccountId {
    AccountId::parse("shop").expect("id")
}

#[tokio::test]
async fn an_account_is_created_renamed_and_refused_a_new_currency() {
    let store = MemoryStore::new();
    let account = Account {
        id: shop(),
        name: AccountName::parse("Shop").expect("name"),
        currency: Currency::parse("BRL").expect("currency"),
        zone: Zone::parse("America/Sao_Paulo").expect("zone"),
        created_at: Timestamp::UNIX_EPOCH,
    };
    assert!(matches!(store.put_account(&account).await, Ok(PutAccount::Created(_))));
    assert!(matches!(store.put_account(&account).await, Ok(PutAccount::Unchanged(_))));
    let renamed = Account { name: AccountName::parse("Loja").expect("name"), ..account.clone() };
    assert!(matches!(store.put_account(&renamed).await, Ok(PutAccount::Renamed(_))));
    let moved = Account { currency: Currency::parse("USD").expect("currency"), ..account };
    let Ok(PutAccount::Conflict(kept)) = store.put_account(&moved).await else { panic!("a currency change") };
    assert_eq!((kept.name.as_str(), kept.currency.code()), ("Loja", "BRL"));
}

#[tokio::test]
async fn a_key_records_once_and_a_batch_applies_each_entry_once() {
    let store = MemoryStore::new();
    let day = date(2026, 11, 23);
    let credit = new_entry(&shop(), "a", EntryType::Credit, 500, day);
    let debit = new_entry(&shop(), "b", EntryType::Debit, 200, day);
    assert_eq!(store.record(&credit).await.expect("record"), Recorded::New);
    assert_eq!(store.record(&debit).await.expect("record"), Recorded::New);
    let retry = new_entry(&shop(), "a", EntryType::Credit, 999, day);
    assert_eq!(store.record(&retry).await.expect("record"), Recorded::Existing(credit.response.clone()));

    let postings = [credit.entry.posting(), debit.entry.posting(), credit.entry.posting()];
    let now = Timestamp::UNIX_EPOCH;
    let outcomes = store.apply(&postings, now).await.expect("apply");
    assert_eq!(outcomes, [Applied::Applied, Applied::Applied, Applied::Duplicate]);
    assert_eq!(store.apply(&postings[..1], now).await.expect("apply"), [Applied::Duplicate]);
    let history = store.history(&shop(), day, day).await.expect("history");
    assert_eq!(history.days.get(&day), Some(&Movement { credits: 500, debits: 200, entry_count: 2 }));
    assert!(store.unapplied(&shop(), day).await.expect("unapplied").is_empty(), "applied entries rest");
    let outbox = store.pending(10).await.expect("outbox");
    assert_eq!(outbox.postings, [credit.entry.posting(), debit.entry.posting()], "one outbox row per entry");
    store.published(outbox.position).await.expect("published");
    assert!(store.pending(10).await.expect("outbox").postings.is_empty(), "published rows are gone");
}

#[tokio::test]
async fn an_overflowing_posting_is_rejected_alone_and_leaves_no_trace() {
    let store = MemoryStore::new();
    let day = date(2026, 11, 23);
    let near_max = i64::MAX - 50;
    let october = MonthRollup {
        month: date(2026, 10, 1),
        movement: Movement { credits: near_max, debits: 0, entry_count: 1 },
        closing: near_max,
    };
    store.put_month(&shop(), october).expect("seed");
    // Together the two credits overflow the month's closing; the small one alone fits.
    let over = new_entry(&shop(), "over", EntryType::Credit, 100, day);
    let fits = new_entry(&shop(), "fits", EntryType::Credit, 10, day);
    store.record(&over).await.expect("record");
    store.record(&fits).await.expect("record");
    let outcomes = store.apply(&[over.entry.posting(), fits.entry.posting()], Timestamp::UNIX_EPOCH).await;
    let outcomes = outcomes.expect("apply");
    assert!(matches!(outcomes[..], [Applied::Rejected(_), Applied::Applied]), "{outcomes:?}");
    let history = store.history(&shop(), day, day).await.expect("history");
    assert_eq!(history.opening, near_max);
    assert_eq!(history.days.get(&day), Some(&Movement { credits: 10, debits: 0, entry_count: 1 }));
    let due = store.unapplied(&shop(), day).await.expect("unapplied");
    assert_eq!(due, [over.entry.posting()], "only the rejected entry is left unapplied");
}
