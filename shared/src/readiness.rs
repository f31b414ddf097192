//! Readiness: whether the ledger's store and its queue answer now, each within a bound. The runner's
//! `GET /ready` renders it (200 when both answer, 503 naming the one that does not); `GET /health`
//! stays a liveness check that touches nothing.
//!
//! The same requests open a Lambda function's connections during init ([`connect`]), so its first
//! invocation does not pay for DNS, TCP and TLS to DynamoDB and SQS.

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

/// The connections a function uses, so the ones it opens at init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    Store,
    StoreAndQueue,
}

/// How opening each connection went; `queue` is `None` when it was not asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opened {
    pub store: Check,
    pub queue: Option<Check>,
}

/// Opens `connections` at once with the cheapest request each answers, each within `within`. A
/// request that fails or does not answer in time is logged and left there: the first invocation
/// then connects as it would have without this.
pub async fn connect(ledger: &Ledger, inbox: &dyn Inbox, connections: Connections, within: Duration) -> Opened {
    let queue = async {
        match connections {
            Connections::Store => None,
            Connections::StoreAndQueue => Some(probe("queue", within, inbox.depths()).await),
        }
    };
    let (store, queue) = tokio::join!(probe("store", within, ledger.store.connect()), queue);
    Opened { store, queue }
}

async fn probe<T>(name: &str, within: Duration, answer: impl Future<Output = Result<T, PortError>>) -> Check {
    match tokio::time::timeout(within, answer).await {
        Ok(Ok(_)) => Check::Ok,
        Ok(Err(error)) => {
            tracing::warn!(check = name, error = %error.chain(), "no answer but an error");
            Check::Unavailable
        }
        Err(_) => {
            tracing::warn!(check = name, within_ms = within.as_millis() as u64, "no answer in time");
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
            Err(PortError::unavailable("connection refused"))
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

    #[tokio::test]
    async fn opening_connections_leaves_the_queue_alone_unless_asked_and_never_waits_past_the_bound() {
        let hangs = Broken { hangs: true };
        let within = Duration::from_millis(50);
        let store_only = connect(&ledger(), &hangs, Connections::Store, within).await;
        assert_eq!(store_only, Opened { store: Check::Ok, queue: None });
        let both = connect(&ledger(), &hangs, Connections::StoreAndQueue, within).await;
        assert_eq!(both, Opened { store: Check::Ok, queue: Some(Check::TimedOut) });
        let failing = connect(&ledger(), &Broken { hangs: false }, Connections::StoreAndQueue, within).await;
        assert_eq!(failing.queue, Some(Check::Unavailable));
    }
}
