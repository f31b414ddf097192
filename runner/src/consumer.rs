//! The runner's stand-in for the SQS event source mapping: polls the queue (embedded, or SQS), hands
//! SQS-shaped batches to the `consolidate` handler, and deletes only what it did not report failed.

use std::sync::Arc;
use std::time::Duration;

use fluxo::handlers::consolidate;
use fluxo::ledger::Ledger;
use fluxo::ports::{Delivery, Inbox};
use tokio::sync::watch;

use crate::status::LastBatch;

/// Messages per batch handed to `consolidate`.
const BATCH_MAX: usize = 100;
/// How long an empty poll waits before asking again, unless a message arrives first.
const IDLE_WAIT: Duration = Duration::from_millis(250);
/// How long to back off after the queue itself failed.
const ERROR_WAIT: Duration = Duration::from_secs(1);

/// Consumes until `stop` turns true, finishing the batch in hand first; records each batch's lag in `last`.
pub async fn run(queue: Arc<dyn Inbox>, ledger: Ledger, last: LastBatch, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let wait = match queue.receive(BATCH_MAX).await {
            Ok(batch) if batch.is_empty() => IDLE_WAIT,
            Ok(batch) => {
                process(queue.as_ref(), &ledger, &last, batch).await;
                continue;
            }
            Err(error) => {
                tracing::warn!(%error, "queue receive failed");
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

async fn process(queue: &dyn Inbox, ledger: &Ledger, last: &LastBatch, batch: Vec<Delivery>) {
    consolidate::consume(ledger, queue, &batch).await;
    last.record(&batch);
}
