//! What the ledger counts and measures, through the `metrics` facade. The recorder is chosen by the
//! process: CloudWatch Embedded Metric Format, flushed per invocation, in the Lambda functions; a
//! Prometheus registry behind `/metrics` in the local runner; none in unit tests.
//!
//! | metric | kind | meaning |
//! |---|---|---|
//! | `entries_recorded` | counter | entries written (reversals included) |
//! | `idempotent_replays` | counter | writes answered from a stored response |
//! | `validation_failures` | counter, label `field` | refused input fields (unknown names count as `other`) |
//! | `entries_consolidated` | counter | postings applied to a daily balance |
//! | `duplicates_skipped` | counter | postings found applied already (redelivery, relay) |
//! | `postings_rejected` | counter | postings that can never apply, left for the dead-letter queue |
//! | `consolidation_lag_ms` | histogram | now minus `recorded_at` when a posting is applied |
//! | `consolidation_batch_size` | histogram | messages per batch handed to consolidate |
//! | `relay_published` | counter | postings relay put on the queue from the outbox or the stream |
//! | `relay_republished` | counter | entries reconciliation found in no balance and published again |
//! | `dead_lettered` | counter | messages moved to the dead-letter queue (embedded queue) |

use jiff::Timestamp;
use metrics_cloudwatch_embedded::Collector;

use crate::domain::entry::Posting;

/// The CloudWatch namespace of every Fluxo metric.
pub const NAMESPACE: &str = "Fluxo";

/// Installs the Embedded Metric Format recorder of a Lambda function: metrics carry the function's
/// name as a dimension and the invocation's request id, a cold start counts once, and the runtime
/// integration flushes one document per invocation to stdout, where CloudWatch picks it up.
///
/// # Errors
/// When a recorder is installed already.
pub fn emf(function: &'static str) -> Result<&'static Collector, metrics_cloudwatch_embedded::Error> {
    metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension("function", function)
        .lambda_cold_start_metric("cold_starts")
        .with_lambda_request_id("request_id")
        .init()
}

/// Field names that may label a metric; anything else a client sent is `other`, so a hostile
/// request cannot create unbounded label values.
const KNOWN_FIELDS: &[&str] = &[
    "type",
    "amount",
    "description",
    "occurred_at",
    "currency",
    "name",
    "timezone",
    "limit",
    "to",
    "body",
    "entries",
    "entry",
    "idempotency_key",
];

pub fn entry_recorded() {
    metrics::counter!("entries_recorded").increment(1);
}

pub fn idempotent_replay() {
    metrics::counter!("idempotent_replays").increment(1);
}

pub fn validation_failure(field: &str) {
    let field = KNOWN_FIELDS.iter().find(|known| **known == field).copied().unwrap_or("other");
    metrics::counter!("validation_failures", "field" => field).increment(1);
}

/// Records the outcome of one consolidation batch.
pub fn batch_consolidated(batch_size: usize, applied: &[&Posting], duplicates: usize, rejected: usize, now: Timestamp) {
    metrics::histogram!("consolidation_batch_size").record(batch_size as f64);
    metrics::counter!("entries_consolidated").increment(applied.len() as u64);
    metrics::counter!("duplicates_skipped").increment(duplicates as u64);
    metrics::counter!("postings_rejected").increment(rejected as u64);
    let lag = metrics::histogram!("consolidation_lag_ms");
    for posting in applied {
        let ms = now.duration_since(posting.recorded_at).as_millis_f64().max(0.0);
        lag.record(ms);
    }
}

/// Postings relay put on the queue from the outbox or the table's stream.
pub fn relay_published(count: usize) {
    metrics::counter!("relay_published").increment(count as u64);
}

/// Entries reconciliation found in no balance after the grace period and published again: each one
/// means the outbox or the stream missed it, or it can never apply (see the dead-letter queue).
pub fn relay_republished(count: usize) {
    metrics::counter!("relay_republished").increment(count as u64);
}

pub fn dead_lettered(count: usize) {
    metrics::counter!("dead_lettered").increment(count as u64);
}
