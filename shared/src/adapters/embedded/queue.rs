//! The embedded queue on SQLite, with the SQS semantics consolidation relies on: at-least-once
//! delivery, a visibility timeout, a receive count, and a dead-letter table for messages received
//! more than `max_receives` times.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use rusqlite::params;
use tokio::sync::Notify;
use uuid::Uuid;

use super::sqlite::{Db, Writer};
use crate::domain::entry::Posting;
use crate::ports::{Delivery, Inbox, PortError, Publisher, QueueDepths};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_receive_ms INTEGER,
    receipt TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS messages_visible ON messages (visible_ms);
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL,
    dead_ms INTEGER NOT NULL
) STRICT;
";

/// Redelivery settings, as on an SQS queue with a redrive policy.
#[derive(Debug, Clone, Copy)]
pub struct QueueSettings {
    /// How long a received message stays hidden before it is delivered again.
    pub visibility_timeout: SignedDuration,
    /// Receives after which a message moves to the dead-letter table instead.
    pub max_receives: i64,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self { visibility_timeout: SignedDuration::from_secs(30), max_receives: 5 }
    }
}

/// The embedded queue in `queue.sqlite`: its writer, which commits concurrent sends, receives and
/// deletes in groups (see `sqlite::Writer`), and one reader connection for the depths.
#[derive(Clone)]
pub struct EmbeddedQueue {
    writer: Writer,
    reader: Db,
    settings: QueueSettings,
    arrived: Arc<Notify>,
}

impl EmbeddedQueue {
    /// Opens or creates the queue in `dir`.
    ///
    /// # Errors
    /// When the database cannot be opened.
    pub fn open(dir: &Path, settings: QueueSettings) -> Result<Self, PortError> {
        let path = dir.join("queue.sqlite");
        let writer = Writer::open(&path, SCHEMA, &[])?;
        let reader = Db::open(&path, "")?;
        Ok(Self { writer, reader, settings, arrived: Arc::new(Notify::new()) })
    }

    /// Sends raw bodies: for tests that need messages no producer of the ledger would write.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn send_raw(&self, bodies: Vec<String>) -> Result<(), PortError> {
        self.writer
            .write(move |conn| {
                let now = Timestamp::now().as_millisecond();
                let mut insert = conn
                    .prepare_cached("INSERT INTO messages (id, body, sent_ms, visible_ms) VALUES (?1, ?2, ?3, ?3)")?;
                for body in bodies {
                    insert.execute(params![Uuid::now_v7().to_string(), body, now])?;
                }
                Ok(())
            })
            .await?;
        self.arrived.notify_one();
        Ok(())
    }

    /// The bodies of dead-lettered messages, oldest first.
    ///
    /// # Errors
    /// When the database fails.
    pub async fn dead_letters(&self) -> Result<Vec<String>, PortError> {
        self.reader
            .call(|conn| {
                let mut stmt = conn.prepare("SELECT body FROM dead_letters ORDER BY dead_ms, id")?;
                let bodies = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
                Ok(bodies)
            })
            .await
    }
}

#[async_trait]
impl Publisher for EmbeddedQueue {
    #[tracing::instrument(name = "queue.publish", skip_all, fields(postings = postings.len()))]
    async fn publish(&self, postings: &[Posting]) -> Result<(), PortError> {
        self.send_raw(crate::adapters::bodies(postings)?).await
    }
}

#[async_trait]
impl Inbox for EmbeddedQueue {
    /// Receives up to `max` visible messages and hides them for the visibility timeout. Messages
    /// already received `max_receives` times move to the dead-letter table instead.
    ///
    /// # Errors
    /// When the database fails.
    async fn receive(&self, max: usize) -> Result<Vec<Delivery>, PortError> {
        let settings = self.settings;
        self.writer
            .write(move |conn| {
                let now = Timestamp::now().as_millisecond();
                let hidden_until = now.saturating_add(settings.visibility_timeout.as_millis().try_into().unwrap_or(i64::MAX));
                let limit = i64::try_from(max).unwrap_or(i64::MAX);
                let candidates: Vec<(String, String, i64, i64, Option<i64>)> = conn
                    .prepare_cached(
                        "SELECT id, body, sent_ms, receive_count, first_receive_ms FROM messages WHERE visible_ms <= ?1 ORDER BY visible_ms LIMIT ?2",
                    )?
                    .query_map(params![now, limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))?
                    .collect::<Result<_, _>>()?;
                let mut out = Vec::with_capacity(candidates.len());
                for (id, body, sent_ms, count, first) in candidates {
                    if count >= settings.max_receives {
                        conn.execute(
                            "INSERT OR IGNORE INTO dead_letters (id, body, sent_ms, receive_count, dead_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![id, body, sent_ms, count, now],
                        )?;
                        conn.execute("DELETE FROM messages WHERE id = ?1", [&id])?;
                        tracing::warn!(message_id = %id, receive_count = count, "message moved to the dead-letter queue");
                        crate::telemetry::dead_lettered(1);
                        continue;
                    }
                    let receipt = Uuid::now_v7().to_string();
                    let first = first.unwrap_or(now);
                    conn.execute(
                        "UPDATE messages SET visible_ms = ?2, receive_count = receive_count + 1, receipt = ?3, first_receive_ms = ?4 WHERE id = ?1",
                        params![id, hidden_until, receipt, first],
                    )?;
                    out.push(Delivery { message_id: id, receipt, body, receive_count: count + 1, sent_ms, first_receive_ms: first });
                }
                Ok(out)
            })
            .await
    }

    /// Deletes delivered messages by receipt. A stale receipt (the message was delivered again since)
    /// deletes nothing, as in SQS.
    ///
    /// # Errors
    /// When the database fails.
    async fn delete(&self, receipts: Vec<String>) -> Result<(), PortError> {
        self.writer
            .write(move |conn| {
                let mut delete = conn.prepare_cached("DELETE FROM messages WHERE receipt = ?1")?;
                for receipt in receipts {
                    delete.execute([receipt])?;
                }
                Ok(())
            })
            .await
    }

    /// The queue's current depths.
    ///
    /// # Errors
    /// When the database fails.
    async fn depths(&self) -> Result<QueueDepths, PortError> {
        self.reader
            .call(|conn| {
                let now = Timestamp::now().as_millisecond();
                let (visible, in_flight) = conn.query_row(
                    "SELECT COALESCE(SUM(visible_ms <= ?1), 0), COALESCE(SUM(visible_ms > ?1), 0) FROM messages",
                    [now],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?;
                let dead = conn.query_row("SELECT COUNT(*) FROM dead_letters", [], |r| r.get(0))?;
                Ok(QueueDepths { visible, in_flight, dead })
            })
            .await
    }

    /// Resolves when a message may have arrived; consumers wait on it between empty polls.
    async fn arrived(&self) {
        self.arrived.notified().await;
    }

    /// Makes every message in flight visible now: the runner is this queue's one consumer, so at its
    /// start whatever is in flight was held by a consumer that died with the last process.
    async fn release_in_flight(&self) -> Result<usize, PortError> {
        self.writer
            .write(|conn| {
                let now = Timestamp::now().as_millisecond();
                Ok(conn.execute("UPDATE messages SET visible_ms = ?1 WHERE visible_ms > ?1", [now])?)
            })
            .await
    }
}
