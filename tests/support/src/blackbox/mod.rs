//! Helpers for the black-box HTTP tests: they start the real `fluxo serve` binary and talk to it over
//! HTTP only, the way zero-to-production's `tests/api/helpers.rs` does.
//!
//! - [`app`]: starting, killing, stopping and restarting the runner on one data directory.
//! - [`client`]: a merchant's typed calls to the v1 contract, and the replies they get.
//! - [`problem`]: assertions on problem+json refusals.
//! - [`calendar`]: business dates in the accounts' time zone, and timestamps for backdating.
//! - [`poll`]: bounded waiting for what is eventual (consolidation), never timing assertions.

pub mod app;
pub mod calendar;
pub mod client;
pub mod poll;
pub mod problem;

pub use app::{Config, TestApp, spawn_app, spawn_with};
pub use client::{Day, Merchant, Reply};
pub use problem::{assert_fields, assert_problem};

/// A fresh random hex string, for idempotency keys and secrets.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}
