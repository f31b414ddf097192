//! Faults for the conformance and fault-injection suites: ports that fail, hang or die part-way
//! ([`ports`]), and a proxy that throttles DynamoDB or loses its answers ([`proxy`]).

pub mod ports;
pub mod proxy;

use std::sync::Arc;

use fluxo::domain::account::{AccountId, AccountName, Currency, Zone};
use fluxo::ledger::{Ledger, RelayPolicy};
use fluxo::ports::{BalanceStore, LedgerStore, Publisher};

/// A ledger over the given ports, with relay batches of 100 and reconciliation's default window (32
/// days) and grace (10 min); and its account `shop` (BRL, America/Sao_Paulo), created.
pub async fn shop_ledger(
    store: Arc<dyn LedgerStore>,
    balances: Arc<dyn BalanceStore>,
    publisher: Arc<dyn Publisher>,
    clock: Arc<ports::TestClock>,
) -> (Ledger, AccountId) {
    let relay = RelayPolicy { batch_max: 100, ..RelayPolicy::default() };
    let ledger = Ledger::new(store, balances, publisher, clock, relay);
    let account = AccountId::parse("shop").expect("id");
    let (name, currency) = (AccountName::parse("Shop").expect("name"), Currency::parse("BRL").expect("currency"));
    let zone = Zone::parse("America/Sao_Paulo").expect("zone");
    ledger.put_account(account.clone(), name, currency, zone).await.expect("account");
    (ledger, account)
}

/// Runs each named scenario once per listed backend, as `<module>::<name>`:
/// `per_backend!([embedded => Embedded, dynamodb => Dynamo] [scenario_a, scenario_b])` calls
/// `scenario_a(Backend::Embedded)` as `embedded::scenario_a`, and so on.
#[macro_export]
macro_rules! per_backend {
    ([$($module:ident => $backend:ident),* $(,)?] $names:tt) => {
        $($crate::per_backend!(@module $module $backend $names);)*
    };
    (@module $module:ident $backend:ident [$($name:ident),* $(,)?]) => {
        mod $module {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::$name(super::Backend::$backend).await;
            })*
        }
    };
}
