//! The `relay` function: moves recorded entries to the queue, so recording never waits for it.
//!
//! - In AWS the table's stream triggers it ([`handle_stream`]): each new entry item becomes a
//!   posting on the queue; a record it could not publish is reported, and Lambda retries from it.
//! - On a schedule it reconciles ([`reconcile`]): any entry recorded more than the grace period ago
//!   and still in no balance is published again, whatever was down for however long.
//! - Locally the runner hands it the stream's records as Lambda would ([`pump`]), or has it tail the
//!   embedded store's outbox ([`drain`]).

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use crate::adapters::aws::stream::posting_of;
use crate::domain::entry::Posting;
use crate::ledger::{Ledger, ReconcileReport, RelayReport};
use crate::ports::{ChangeStream, Outbox, PortError};

/// Postings published per queue request: one SQS batch. A failed publish is retried from the
/// first record of its chunk, so at most this many postings are published twice.
const CHUNK: usize = 10;

/// Handles one batch of stream records: publishes the posting of every inserted entry, in order,
/// and reports the first record it could not handle (Lambda retries the batch from it; with
/// bisection on error and an on-failure destination, a record that can never be handled is set
/// aside instead of blocking its shard).
pub async fn handle_stream(ledger: &Ledger, event: Event) -> DynamoDbEventResponse {
    let mut chunk: Vec<(Option<String>, Posting)> = Vec::with_capacity(CHUNK);
    let mut failed = None;
    for record in &event.records {
        let seq = record.change.sequence_number.clone();
        match posting_of(record) {
            Ok(Some(posting)) => chunk.push((seq, posting)),
            Ok(None) => {}
            Err(error) => {
                tracing::error!(sequence_number = ?seq, %error, "stream record is not an entry relay can read");
                // Lambda retries from the reported record: what came before it must be on the queue.
                failed = Some(publish(ledger, &mut chunk).await.err().unwrap_or(seq));
                break;
            }
        }
        if chunk.len() == CHUNK
            && let Err(seq) = publish(ledger, &mut chunk).await
        {
            failed = Some(seq);
            break;
        }
    }
    if failed.is_none() {
        failed = publish(ledger, &mut chunk).await.err();
    }
    let mut response = DynamoDbEventResponse::default();
    if let Some(seq) = failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = seq;
        response.batch_item_failures.push(failure);
    }
    response
}

/// Publishes a chunk of postings and empties it; on failure, the sequence number to retry from.
async fn publish(ledger: &Ledger, chunk: &mut Vec<(Option<String>, Posting)>) -> Result<(), Option<String>> {
    if chunk.is_empty() {
        return Ok(());
    }
    let postings: Vec<Posting> = chunk.iter().map(|(_, p)| p.clone()).collect();
    match ledger.publish(&postings).await {
        Ok(()) => {
            chunk.clear();
            Ok(())
        }
        Err(error) => {
            tracing::warn!(error = %error.chain(), postings = postings.len(), "publish failed; the stream batch is retried from here");
            Err(chunk.first().and_then(|(seq, _)| seq.clone()))
        }
    }
}

/// Does what the event source mapping does with a stream: reads the next batch of records, hands it
/// to [`handle_stream`], and moves past it only when nothing in it failed. Returns how many records
/// it read.
///
/// # Errors
/// When the stream cannot be read, or relay reported a record it could not handle; the next call
/// reads the same records again.
pub async fn pump(ledger: &Ledger, stream: &dyn ChangeStream) -> Result<usize, PortError> {
    let batch = stream.next().await?;
    let records = batch.event.records.len();
    if records > 0 && !handle_stream(ledger, batch.event.clone()).await.batch_item_failures.is_empty() {
        return Err(PortError::unavailable("relay could not handle the stream's records; they come again"));
    }
    stream.advance(&batch).await?;
    Ok(records)
}

/// Moves the outbox's postings to the queue, one pass.
///
/// # Errors
/// When the store or the queue fails; the postings stay in the outbox for the next pass.
pub async fn drain(ledger: &Ledger, outbox: &dyn Outbox) -> Result<RelayReport, PortError> {
    ledger.relay_outbox(outbox).await
}

/// One reconciliation pass over every account.
///
/// # Errors
/// When the store or the queue fails; the next scheduled pass does the same work.
pub async fn reconcile(ledger: &Ledger) -> Result<ReconcileReport, PortError> {
    let report = ledger.reconcile().await?;
    tracing::info!(
        accounts = report.accounts,
        days = report.days,
        republished = report.republished,
        "reconciliation pass"
    );
    Ok(report)
}
