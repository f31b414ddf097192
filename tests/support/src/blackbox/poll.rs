//! Bounded waiting for what is eventual. Nothing here asserts on elapsed time: a helper reads until
//! a condition holds or a deadline passes and hands the last reading back for the test to assert on.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long consolidation may take before a test reports what it last saw.
pub const SETTLE_MAX: Duration = Duration::from_secs(10);
/// The pause between two readings.
const STEP: Duration = Duration::from_millis(50);

/// Reads until `done` holds or [`SETTLE_MAX`] passes, and returns the last reading.
pub async fn until<T, F, Fut>(mut read: F, done: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let deadline = Instant::now() + SETTLE_MAX;
    loop {
        let value = read().await;
        if done(&value) || Instant::now() >= deadline {
            return value;
        }
        tokio::time::sleep(STEP).await;
    }
}

/// Reads for `window` and returns the first reading for which `holds` is false, if any.
pub async fn throughout<T, F, Fut>(window: Duration, mut read: F, holds: impl Fn(&T) -> bool) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    let end = Instant::now() + window;
    while Instant::now() < end {
        let value = read().await;
        if !holds(&value) {
            return Some(value);
        }
        tokio::time::sleep(STEP).await;
    }
    None
}
