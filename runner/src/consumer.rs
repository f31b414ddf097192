//! The runner's stand-in for the SQS event source mapping: polls the queue (embedded, or SQS), hands
//! SQS-shaped batches to the `consolidate` handler, and deletes only what it did not report failed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use std::sync::Arc;

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
    let event = sqs_event(&batch);
    let response = consolidate::handle(ledger, event).await;
    last.record(&batch);
    let failed: HashSet<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
    let done: Vec<String> = batch.into_iter().filter(|d| !failed.contains(&d.message_id)).map(|d| d.receipt).collect();
    if let Err(error) = queue.delete(done).await {
        // The messages become visible again and are applied as duplicates: counted once.
        tracing::warn!(%error, "deleting consolidated messages failed");
    }
}

fn sqs_event(batch: &[Delivery]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = batch.iter().map(sqs_message).collect();
    event
}

fn sqs_message(d: &Delivery) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(d.message_id.clone());
    m.receipt_handle = Some(d.receipt.clone());
    m.body = Some(d.body.clone());
    m.attributes = HashMap::from([
        ("ApproximateReceiveCount".to_owned(), d.receive_count.to_string()),
        ("SentTimestamp".to_owned(), d.sent_ms.to_string()),
        ("ApproximateFirstReceiveTimestamp".to_owned(), d.first_receive_ms.to_string()),
    ]);
    m.event_source = Some("aws:sqs".to_owned());
    m.event_source_arn = Some("arn:aws:sqs:local:000000000000:fluxo-entries".to_owned());
    m.aws_region = Some("local".to_owned());
    m
}
