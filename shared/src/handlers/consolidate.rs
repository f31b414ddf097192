//! The `consolidate` function: applies an SQS batch of postings to daily balances and reports only
//! the messages that failed, so one poison message never blocks its batch.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use jiff::Timestamp;

use crate::domain::entry::Posting;
use crate::ledger::Ledger;
use crate::message;
use crate::ports::Applied;

/// Handles one SQS batch. Never fails as a whole: every message that did not apply is listed in the
/// response so SQS redelivers it (and dead-letters it after the queue's maximum receives).
pub async fn handle(ledger: &Ledger, event: SqsEvent) -> SqsBatchResponse {
    let batch_size = event.records.len();
    let mut failed: Vec<String> = Vec::new();
    let mut ids: Vec<String> = Vec::with_capacity(event.records.len());
    let mut postings: Vec<Posting> = Vec::with_capacity(event.records.len());
    for record in event.records {
        let id = message_id(&record);
        match record.body.as_deref().map(message::decode) {
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
            tracing::warn!(%error, batch_size = postings.len(), "batch not applied; SQS will redeliver it");
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
    response
}

/// The ids of the messages whose postings were rejected; counts and measures the whole batch.
fn failures(
    now: Timestamp,
    batch_size: usize,
    postings: &[Posting],
    ids: Vec<String>,
    outcomes: Vec<Applied>,
) -> Vec<String> {
    let mut applied: Vec<&Posting> = Vec::new();
    let mut duplicates = 0usize;
    let mut failed = Vec::new();
    for ((posting, id), outcome) in postings.iter().zip(ids).zip(outcomes) {
        match outcome {
            Applied::Applied => {
                // The audit trail from "entry recorded" to the balance it moved: one line per entry.
                tracing::info!(message_id = %id, entry_id = %posting.entry_id, account_id = %posting.account_id, business_date = %posting.business_date, "posting applied");
                applied.push(posting);
            }
            Applied::Duplicate => duplicates += 1,
            Applied::Rejected(reason) => {
                tracing::error!(message_id = %id, entry_id = %posting.entry_id, account_id = %posting.account_id, %reason, "posting rejected");
                failed.push(id);
            }
        }
    }
    tracing::info!(batch_size, applied = applied.len(), duplicates, failed = failed.len(), "batch consolidated");
    crate::telemetry::batch_consolidated(batch_size, &applied, duplicates, failed.len(), now);
    failed
}

fn message_id(record: &SqsMessage) -> String {
    record.message_id.clone().unwrap_or_default()
}
