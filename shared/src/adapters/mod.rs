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

/// The message bodies of `postings`, as every queue sends them.
pub(crate) fn bodies(postings: &[crate::domain::entry::Posting]) -> Result<Vec<String>, PortError> {
    postings
        .iter()
        .map(crate::message::encode)
        .collect::<Result<_, _>>()
        .map_err(|e| PortError::failure("a posting could not be encoded").caused_by(e))
}

/// A stored value that does not parse back means the data was edited or corrupted.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> PortError {
    PortError::failure(format!("stored {what} is invalid: {detail}"))
}
