//! The `relay` function: on a schedule, re-publishes entries that were recorded but are still not
//! consolidated after the grace period (their publish failed, or the function died before it).

use crate::ledger::{Ledger, RelayReport};
use crate::ports::PortError;

/// Runs one relay pass. The scheduled event carries nothing the relay needs.
///
/// # Errors
/// When the store or the queue fails; the next scheduled run tries again.
pub async fn handle(ledger: &Ledger) -> Result<RelayReport, PortError> {
    let report = ledger.run_relay().await?;
    if report.republished > 0 {
        tracing::warn!(republished = report.republished, "relay re-published unconsolidated entries");
    }
    Ok(report)
}
