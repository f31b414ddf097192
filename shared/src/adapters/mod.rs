//! Adapters: the ports implemented over real backends.
//!
//! - [`embedded`]: SQLite files in a data directory, for one machine (`fluxo serve`, tests, and the
//!   functions under `cargo lambda watch`).
//! - [`aws`]: DynamoDB and SQS, for AWS Lambda and for `fluxo serve --backend aws` against an emulator.

pub mod aws;
pub mod embedded;

use crate::ports::PortError;

/// A stored value that does not parse back means the data was edited or corrupted.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> PortError {
    PortError::Failure(format!("stored {what} is invalid: {detail}"))
}
