//! Adapters: the ports implemented over real backends.
//!
//! - [`embedded`]: SQLite files in a data directory, for one machine (`fluxo serve`, tests, and the
//!   functions under `cargo lambda watch`); behind the default `embedded` feature, which the Lambda
//!   packages leave out.
//! - [`aws`]: DynamoDB and SQS, for AWS Lambda and for `fluxo serve --backend aws` against an emulator.
//! - [`memory`]: maps behind a mutex, nothing durable: the conformance suite's third backend and the
//!   handler benchmarks' ports.

pub mod aws;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod memory;

use crate::ports::PortError;

/// A stored value that does not parse back means the data was edited or corrupted.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> PortError {
    PortError::Failure(format!("stored {what} is invalid: {detail}"))
}
