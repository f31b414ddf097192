//! The `consolidate` function: applies an SQS batch of postings to daily balances and reports only
//! the messages that failed, so one poison message never blocks its batch.

use std::collections::{HashMap, HashSet};

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use jiff::Timestamp;

use crate::domain::entry::Posting;
use crate::ledger::Ledger;
use crate::message;
use crate::ports::{Applied, Delivery, Inbox};

/// A record the partial batch response cannot name: SQS gives every message an id, so this batch
/// did not come from SQS as sent.
#[derive(Debug, thiserror::Error)]
#[error("record {index} of the batch has no message id; the whole batch is left to SQS to redeliver")]
pub struct Unidentified {
    pub index: usize,
}

/// Handles one SQS batch. Every message that did not apply is listed in the response so SQS
/// redelivers it (and dead-letters it after the queue's maximum receives); one poison message never
/// fails its batch.
///
/// # Errors
/// When a record has no message id: nothing is applied and the invocation fails, so SQS redelivers
/// the whole batch.
pub async fn handle(ledger: &Ledger, event: SqsEvent) -> Result<SqsBatchResponse, Unidentified> {
    let batch_size = event.records.len();
    let records: Vec<(String, Option<String>)> = event
        .records
        .into_iter()
        .enumerate()
        .map(|(index, r)| r.message_id.map(|id| (id, r.body)).ok_or(Unidentified { index }))
        .collect::<Result<_, _>>()?;
    let mut failed: Vec<String> = Vec::new();
    let mut ids: Vec<String> = Vec::with_capacity(batch_size);
    let mut postings: Vec<Posting> = Vec::with_capacity(batch_size);
    for (id, body) in records {
        match body.as_deref().map(message::decode) {
            Some(Ok(posting)) => {
                ids.push(id);
                postings.push(posting);
            }
            Some(Err(reason)) => {
                tracing::error!(message_id = %id, %reason, "poison message");
                failed.push(id);
            }
            None => {
                tracing::error!(message_id = %id, "message without a body");
                failed.push(id);
            }
        }
    }
    match ledger.consolidate(&postings).await {
        Ok(outcomes) => failed.extend(failures(ledger.clock.now(), batch_size, &postings, ids, outcomes)),
        Err(error) => {
            tracing::warn!(error = %error.chain(), batch_size = postings.len(), "batch not applied; SQS will redeliver it");
            failed.extend(ids);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    Ok(response)
}

/// The ids of the messages whose postings were rejected or deferred; counts and measures the whole
/// batch.
fn failures(
    now: Timestamp,
    batch_size: usize,
    postings: &[Posting],
    ids: Vec<String>,
    outcomes: Vec<Applied>,
) -> Vec<String> {
    let mut applied: Vec<&Posting> = Vec::new();
    let mut duplicates = 0usize;
    let mut deferred = 0usize;
    let mut failed = Vec::new();
    for ((posting, id), outcome) in postings.iter().zip(ids).zip(outcomes) {
        match outcome {
            Applied::Applied => applied.push(posting),
            Applied::Duplicate => duplicates += 1,
            Applied::Rejected(reason) => {
                tracing::error!(message_id = %id, entry_id = %posting.entry_id, account_id = %posting.account_id, %reason, "posting rejected");
                failed.push(id);
            }
            Applied::Deferred => {
                // Its account was busy: the message comes back after the visibility timeout.
                deferred += 1;
                failed.push(id);
            }
        }
    }
    log_applied(&applied);
    tracing::info!(
        batch_size,
        applied = applied.len(),
        duplicates,
        deferred,
        failed = failed.len(),
        "batch consolidated"
    );
    crate::telemetry::batch_consolidated(batch_size, &applied, duplicates, failed.len() - deferred, now);
    failed
}

/// Entry ids per "postings applied" line: a line stays far under CloudWatch's 256 KB per event.
const IDS_PER_LINE: usize = 100;

/// The audit trail from the request that recorded an entry (its line names the entry id) to the
/// balance it moved: the ids of the applied entries, about 37 bytes each rather than a line each.
fn log_applied(applied: &[&Posting]) {
    for chunk in applied.chunks(IDS_PER_LINE) {
        let ids = chunk.iter().map(|p| p.entry_id.to_string()).collect::<Vec<_>>().join(",");
        tracing::info!(entry_ids = %ids, "postings applied");
    }
}

/// Does what the SQS event source mapping does with one received batch: hands it to [`handle`] as an
/// SQS event, then deletes every message it did not report failed. Returns how many failed; those
/// become visible again after the visibility timeout, and dead-lettered after the maximum receives.
pub async fn consume(ledger: &Ledger, queue: &dyn Inbox, batch: &[Delivery]) -> usize {
    let response = match handle(ledger, sqs_event(batch)).await {
        Ok(response) => response,
        Err(unidentified) => {
            tracing::error!(error = %unidentified, "batch not consolidated");
            return batch.len();
        }
    };
    let failed: HashSet<String> = response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect();
    let done: Vec<String> =
        batch.iter().filter(|d| !failed.contains(&d.message_id)).map(|d| d.receipt.clone()).collect();
    if let Err(error) = queue.delete(done).await {
        // The messages become visible again and are applied as duplicates: counted once.
        tracing::warn!(error = %error.chain(), "deleting consolidated messages failed");
    }
    failed.len()
}

/// The SQS event Lambda would receive for `batch`.
pub fn sqs_event(batch: &[Delivery]) -> SqsEvent {
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
