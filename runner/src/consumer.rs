//! The runner's stand-in for the SQS event source mapping: polls the queue (embedded, or SQS), gathers
//! a batch as the mapping does (until it holds the batch size or the batching window has passed),
//! hands it to the `consolidate` handler as an SQS event, and deletes only what it did not report
//! failed.

use std::sync::Arc;
use std::time::Duration;

use fluxo::handlers::consolidate;
use fluxo::ledger::Ledger;
use fluxo::ports::{Delivery, Inbox};
use tokio::sync::watch;

use crate::status::LastBatch;

/// How the runner gathers batches: the event source mapping's batch size and batching window.
#[derive(Debug, Clone, Copy)]
pub struct Batching {
    pub size_max: usize,
    pub window: Duration,
}

/// How often a batch still filling asks the queue again within its window.
const FILL_WAIT: Duration = Duration::from_millis(20);
/// How long an empty poll waits before asking again, unless a message arrives first.
const IDLE_WAIT: Duration = Duration::from_millis(250);
/// How long to back off after the queue itself failed.
const ERROR_WAIT: Duration = Duration::from_secs(1);

/// Consumes until `stop` turns true, finishing the batch in hand first; records each batch's lag in `last`.
pub async fn run(
    queue: Arc<dyn Inbox>,
    ledger: Ledger,
    batching: Batching,
    last: LastBatch,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let wait = match gather(queue.as_ref(), batching).await {
            Ok(batch) if batch.is_empty() => IDLE_WAIT,
            Ok(batch) => {
                process(queue.as_ref(), &ledger, &last, batch).await;
                continue;
            }
            Err(error) => {
                tracing::warn!(error = %error.chain(), "queue receive failed");
                ERROR_WAIT
            }
        };
        tokio::select! {
            () = queue.arrived() => {}
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// A batch as the event source mapping gathers one: what the first receive brings, then more until
/// the batch is full or the window since the first message has passed.
async fn gather(queue: &dyn Inbox, batching: Batching) -> Result<Vec<Delivery>, fluxo::ports::PortError> {
    let mut batch = queue.receive(batching.size_max).await?;
    if batch.is_empty() || batching.window.is_zero() {
        return Ok(batch);
    }
    let deadline = tokio::time::Instant::now() + batching.window;
    while batch.len() < batching.size_max && tokio::time::Instant::now() < deadline {
        let more = queue.receive(batching.size_max - batch.len()).await?;
        if more.is_empty() {
            tokio::select! {
                () = queue.arrived() => {}
                () = tokio::time::sleep(FILL_WAIT) => {}
            }
        }
        batch.extend(more);
    }
    Ok(batch)
}

async fn process(queue: &dyn Inbox, ledger: &Ledger, last: &LastBatch, batch: Vec<Delivery>) {
    consolidate::consume(ledger, queue, &batch).await;
    last.record(&batch);
}
