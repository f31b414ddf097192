//! The in-memory queue, with SQS's delivery semantics.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use tokio::sync::Notify;
use uuid::Uuid;

use crate::domain::entry::Posting;
use crate::ports::{Delivery, Inbox, PortError, Publisher, QueueDepths};

/// The in-memory queue, with the SQS semantics consolidation relies on: at-least-once delivery, a
/// visibility timeout, a receive count, and dead letters after `max_receives` receives. Clones
/// share one queue.
#[derive(Clone)]
pub struct MemoryQueue {
    state: Arc<Mutex<QueueState>>,
    visibility_timeout: SignedDuration,
    max_receives: i64,
    arrived: Arc<Notify>,
}

#[derive(Default)]
struct QueueState {
    /// In the order sent.
    messages: Vec<Message>,
    dead: Vec<String>,
}

struct Message {
    id: String,
    body: String,
    sent_ms: i64,
    visible_ms: i64,
    receive_count: i64,
    first_receive_ms: Option<i64>,
    receipt: Option<String>,
}

impl Default for MemoryQueue {
    /// A queue with SQS's defaults as Fluxo configures them: 30 s visibility, 5 receives.
    fn default() -> Self {
        Self::new(SignedDuration::from_secs(30), 5)
    }
}

impl MemoryQueue {
    /// An empty queue that hides a received message for `visibility_timeout` and dead-letters it
    /// once it was received `max_receives` times.
    pub fn new(visibility_timeout: SignedDuration, max_receives: i64) -> Self {
        Self { state: Arc::default(), visibility_timeout, max_receives, arrived: Arc::new(Notify::new()) }
    }

    /// Sends raw bodies: for tests that need messages no producer of the ledger would write.
    ///
    /// # Errors
    /// When the queue's lock was poisoned by a panic.
    pub fn send_raw(&self, bodies: Vec<String>) -> Result<(), PortError> {
        let now = Timestamp::now().as_millisecond();
        self.lock()?.messages.extend(bodies.into_iter().map(|body| Message {
            id: Uuid::now_v7().to_string(),
            body,
            sent_ms: now,
            visible_ms: now,
            receive_count: 0,
            first_receive_ms: None,
            receipt: None,
        }));
        self.arrived.notify_one();
        Ok(())
    }

    /// The bodies of dead-lettered messages, oldest first.
    ///
    /// # Errors
    /// When the queue's lock was poisoned by a panic.
    pub fn dead_letters(&self) -> Result<Vec<String>, PortError> {
        Ok(self.lock()?.dead.clone())
    }

    fn lock(&self) -> Result<MutexGuard<'_, QueueState>, PortError> {
        self.state.lock().map_err(|_| PortError::failure("the in-memory queue was poisoned by a panic"))
    }
}

#[async_trait]
impl Publisher for MemoryQueue {
    async fn publish(&self, postings: &[Posting]) -> Result<(), PortError> {
        self.send_raw(crate::adapters::bodies(postings)?)
    }
}

#[async_trait]
impl Inbox for MemoryQueue {
    /// Receives up to `max` visible messages, the longest visible first, and hides them for the
    /// visibility timeout. Messages already received `max_receives` times are dead-lettered instead.
    async fn receive(&self, max: usize) -> Result<Vec<Delivery>, PortError> {
        let now = Timestamp::now().as_millisecond();
        let hidden_ms = i64::try_from(self.visibility_timeout.as_millis()).unwrap_or(i64::MAX);
        let hidden_until = now.saturating_add(hidden_ms);
        let mut state = self.lock()?;
        let mut visible: Vec<usize> =
            state.messages.iter().enumerate().filter(|(_, m)| m.visible_ms <= now).map(|(i, _)| i).collect();
        // Stable, so messages visible since the same instant keep the order they were sent in.
        visible.sort_by_key(|&i| state.messages[i].visible_ms);
        visible.truncate(max);
        let mut out = Vec::with_capacity(visible.len());
        let mut dead = Vec::new();
        for i in visible {
            let m = &mut state.messages[i];
            if m.receive_count >= self.max_receives {
                tracing::warn!(message_id = %m.id, receive_count = m.receive_count, "message moved to the dead-letter queue");
                dead.push(i);
                continue;
            }
            let receipt = Uuid::now_v7().to_string();
            m.visible_ms = hidden_until;
            m.receive_count = m.receive_count.saturating_add(1);
            m.receipt = Some(receipt.clone());
            let first_receive_ms = *m.first_receive_ms.get_or_insert(now);
            out.push(Delivery {
                message_id: m.id.clone(),
                receipt,
                body: m.body.clone(),
                receive_count: m.receive_count,
                sent_ms: m.sent_ms,
                first_receive_ms,
            });
        }
        if !dead.is_empty() {
            crate::telemetry::dead_lettered(dead.len());
            // Remove from the back so the indices still to remove stay valid.
            dead.sort_unstable();
            for i in dead.into_iter().rev() {
                let m = state.messages.remove(i);
                state.dead.push(m.body);
            }
        }
        Ok(out)
    }

    /// Deletes delivered messages by receipt. A stale receipt (the message was delivered again since)
    /// deletes nothing, as in SQS.
    async fn delete(&self, receipts: Vec<String>) -> Result<(), PortError> {
        let receipts: HashSet<String> = receipts.into_iter().collect();
        self.lock()?.messages.retain(|m| m.receipt.as_ref().is_none_or(|r| !receipts.contains(r)));
        Ok(())
    }

    async fn depths(&self) -> Result<QueueDepths, PortError> {
        let now = Timestamp::now().as_millisecond();
        let state = self.lock()?;
        let visible = state.messages.iter().filter(|m| m.visible_ms <= now).count();
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        Ok(QueueDepths {
            visible: count(visible),
            in_flight: count(state.messages.len() - visible),
            dead: count(state.dead.len()),
        })
    }

    /// Resolves when a message may have arrived; consumers wait on it between empty polls.
    async fn arrived(&self) {
        self.arrived.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_is_hidden_redelivered_then_dead_lettered() {
        let queue = MemoryQueue::new(SignedDuration::ZERO, 2);
        queue.send_raw(vec!["poison".into()]).expect("send");
        for receive in 1..=2 {
            let got = queue.receive(10).await.expect("receive");
            assert_eq!((got.len(), got[0].receive_count), (1, receive));
        }
        assert!(queue.receive(10).await.expect("receive").is_empty());
        assert_eq!(queue.dead_letters().expect("dead"), ["poison"]);
        assert_eq!(queue.depths().await.expect("depths"), QueueDepths { visible: 0, in_flight: 0, dead: 1 });
    }
}
