//! Readiness: whether the ledger's store and its queue answer now, each within a bound. The runner's
//! `GET /ready` renders it (200 when both answer, 503 naming the one that does not); `GET /health`
//! stays a liveness check that touches nothing.

use std::future::Future;
use std::time::Duration;

use serde_json::json;

use crate::ledger::Ledger;
use crate::ports::{Inbox, PortError};

/// How one dependency answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Ok,
    /// It answered with an error (the cause is logged, not shown).
    Unavailable,
    /// It did not answer within the bound.
    TimedOut,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Unavailable => "unavailable",
            Self::TimedOut => "timeout",
        }
    }
}

/// The store's and the queue's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub store: Check,
    pub queue: Check,
}

impl Readiness {
    /// Whether both answered.
    pub fn ready(self) -> bool {
        self.store == Check::Ok && self.queue == Check::Ok
    }

    /// `{"status":"ready"|"unavailable","checks":{"store":..,"queue":..}}`.
    pub fn to_json(self) -> String {
        let status = if self.ready() { "ready" } else { "unavailable" };
        json!({"status": status, "checks": {"store": self.store.as_str(), "queue": self.queue.as_str()}}).to_string()
    }
}

/// Asks the store for one account id and the queue for its depths, at once, each within `within`.
pub async fn check(ledger: &Ledger, inbox: &dyn Inbox, within: Duration) -> Readiness {
    let (store, queue) =
        tokio::join!(probe("store", within, ledger.store.accounts(None, 1)), probe("queue", within, inbox.depths()));
    Readiness { store, queue }
}

async fn probe<T>(name: &str, within: Duration, answer: impl Future<Output = Result<T, PortError>>) -> Check {
    match tokio::time::timeout(within, answer).await {
        Ok(Ok(_)) => Check::Ok,
        Ok(Err(error)) => {
            tracing::warn!(check = name, %error, "readiness check failed");
            Check::Unavailable
        }
        Err(_) => {
            tracing::warn!(check = name, within_ms = within.as_millis() as u64, "readiness check timed out");
            Check::TimedOut
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::*;
    use crate::adapters::memory::{MemoryQueue, MemoryStore};
    use crate::ledger::RelayPolicy;
    use crate::ports::{Delivery, QueueDepths, SystemClock};

    /// A queue that fails, or never answers.
    struct Broken {
        hangs: bool,
    }

    #[async_trait]
    impl Inbox for Broken {
        async fn receive(&self, _max: usize) -> Result<Vec<Delivery>, PortError> {
            Ok(Vec::new())
        }

        async fn delete(&self, _receipts: Vec<String>) -> Result<(), PortError> {
            Ok(())
        }

        async fn depths(&self) -> Result<QueueDepths, PortError> {
            if self.hangs {
                std::future::pending::<()>().await;
            }
            Err(PortError::Unavailable("connection refused".into()))
        }

        async fn arrived(&self) {}
    }

    fn ledger() -> Ledger {
        let store = MemoryStore::new();
        let queue = MemoryQueue::default();
        Ledger::new(
            Arc::new(store.clone()),
            Arc::new(store),
            Arc::new(queue),
            Arc::new(SystemClock),
            RelayPolicy::default(),
        )
    }

    #[tokio::test]
    async fn ready_when_the_store_and_the_queue_answer() {
        let readiness = check(&ledger(), &MemoryQueue::default(), Duration::from_secs(1)).await;
        assert_eq!(readiness, Readiness { store: Check::Ok, queue: Check::Ok });
        assert_eq!(readiness.to_json(), r#"{"checks":{"queue":"ok","store":"ok"},"status":"ready"}"#);
    }

    #[tokio::test]
    async fn a_queue_that_fails_or_does_not_answer_in_time_is_named() {
        let failing = check(&ledger(), &Broken { hangs: false }, Duration::from_secs(1)).await;
        assert_eq!(failing, Readiness { store: Check::Ok, queue: Check::Unavailable });
        let hanging = check(&ledger(), &Broken { hangs: true }, Duration::from_millis(50)).await;
        assert_eq!(hanging, Readiness { store: Check::Ok, queue: Check::TimedOut });
        assert!(!hanging.ready());
        assert_eq!(hanging.to_json(), r#"{"checks":{"queue":"timeout","store":"ok"},"status":"unavailable"}"#);
    }
}
