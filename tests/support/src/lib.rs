//! What Fluxo's test suites share, as a dev-dependency:
//!
//! - [`emulator`]: moto (DynamoDB, its stream, SQS) for this test process, and clients for it.
//! - [`faults`]: ports that fail, hang or die part-way, and a proxy in front of the emulator that
//!   throttles, refuses, stalls or loses DynamoDB's answers.
//! - [`rig`]: a ledger over one store adapter (embedded, DynamoDB on moto, in memory) with those
//!   faults wired in, and the relay, queue and audit steps the conformance and fault suites drive.
//! - [`blackbox`]: the `fluxo serve` binary started and spoken to over HTTP only, for the black-box
//!   tests in `tests/`.
// Test support states what it expects with `expect`, as tests do; the workspace denies it elsewhere.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod blackbox;
pub mod emulator;
pub mod faults;
pub mod rig;
