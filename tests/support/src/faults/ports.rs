//! Ports with faults the tests switch on: a clock moved by hand, a publisher that fails or hangs, and
//! a balance store whose consumer dies part-way through a batch. They wrap the real adapters, so a
//! fault reaches the ledger exactly as a failing backend would.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use fluxo::domain::account::AccountId;
use fluxo::domain::audit::Rollups;
use fluxo::domain::balance::BalanceHistory;
use fluxo::domain::entry::Posting;
use fluxo::ports::{Applied, BalanceStore, Clock, PortError, Publisher};
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

/// A clock tests move by hand.
pub struct TestClock(Mutex<Timestamp>);

impl TestClock {
    pub fn at(raw: &str) -> Arc<Self> {
        Arc::new(Self(Mutex::new(raw.parse().expect("test instant"))))
    }

    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.0.lock().expect("clock lock");
        *now = now.checked_add(by).expect("advance");
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock lock")
    }
}

/// What a [`SwitchedPublisher`] does with the next publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Link {
    /// Publishes.
    Up = 0,
    /// Fails at once, as an unreachable queue does.
    Down = 1,
    /// Never returns: the function dies here when its task is dropped.
    Hang = 2,
}

/// A publisher in front of another (or of an in-memory list when there is none), switched by tests.
pub struct SwitchedPublisher {
    link: AtomicU8,
    next: Option<Arc<dyn Publisher>>,
    sent: Mutex<Vec<Posting>>,
}

impl SwitchedPublisher {
    /// Publishes into a list the test drains.
    pub fn recording() -> Arc<Self> {
        Arc::new(Self { link: AtomicU8::new(Link::Up as u8), next: None, sent: Mutex::default() })
    }

    /// Publishes to `next`.
    pub fn over(next: Arc<dyn Publisher>) -> Arc<Self> {
        Arc::new(Self { link: AtomicU8::new(Link::Up as u8), next: Some(next), sent: Mutex::default() })
    }

    pub fn set(&self, link: Link) {
        self.link.store(link as u8, Ordering::SeqCst);
    }

    /// What was published to the list so far, taken out of it.
    pub fn drain(&self) -> Vec<Posting> {
        std::mem::take(&mut *self.sent.lock().expect("sent lock"))
    }
}

#[async_trait]
impl Publisher for SwitchedPublisher {
    async fn publish(&self, postings: &[Posting]) -> Result<(), PortError> {
        match self.link.load(Ordering::SeqCst) {
            1 => return Err(PortError::unavailable("queue unreachable (injected)")),
            2 => std::future::pending::<()>().await,
            _ => {}
        }
        match &self.next {
            Some(next) => next.publish(postings).await,
            None => {
                self.sent.lock().expect("sent lock").extend_from_slice(postings);
                Ok(())
            }
        }
    }
}

/// A balance store whose consumer can be made to die after applying part of a batch: the first
/// postings reach the real store, then the call never returns (the test drops its task).
pub struct DyingBalances {
    inner: Arc<dyn BalanceStore>,
    die_after: AtomicUsize,
    died: AtomicBool,
}

impl DyingBalances {
    pub fn over(inner: Arc<dyn BalanceStore>) -> Arc<Self> {
        Arc::new(Self { inner, die_after: AtomicUsize::new(usize::MAX), died: AtomicBool::new(false) })
    }

    /// The next batch applies its first `postings` and dies; the consumer that replaces it is healthy.
    pub fn die_after(&self, postings: usize) {
        self.died.store(false, Ordering::SeqCst);
        self.die_after.store(postings, Ordering::SeqCst);
    }

    /// Whether a consumer has applied its part of a batch and died.
    pub fn died(&self) -> bool {
        self.died.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl BalanceStore for DyingBalances {
    async fn apply(&self, postings: &[Posting], now: Timestamp) -> Result<Vec<Applied>, PortError> {
        let cut = self.die_after.swap(usize::MAX, Ordering::SeqCst);
        if cut < postings.len() {
            self.inner.apply(&postings[..cut], now).await?;
            self.died.store(true, Ordering::SeqCst);
            std::future::pending::<()>().await;
        }
        self.inner.apply(postings, now).await
    }

    async fn history(&self, account: &AccountId, from: Date, to: Date) -> Result<BalanceHistory, PortError> {
        self.inner.history(account, from, to).await
    }

    async fn rollups(&self, account: &AccountId, from: Date, to: Date) -> Result<Rollups, PortError> {
        self.inner.rollups(account, from, to).await
    }
}
