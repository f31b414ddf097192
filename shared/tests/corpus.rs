//! The fuzz targets' seed corpus, replayed on the stable toolchain: every file of
//! `fuzz/corpus/<target>/` through the check that target runs (`fuzz/checks.rs`, included here as is).
//! A seed that breaks an invariant fails its test here, without libFuzzer; crashes the fuzzer found
//! are kept in the corpus, so each one stays a regression test.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::{Path, PathBuf};

const CORPUS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus");

/// The seeds of `target`, in name order; at least one, so a lost corpus folder fails too.
fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(CORPUS_DIR).join(target);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable corpus entry").path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "{} holds no seeds", dir.display());
    paths.into_iter().map(|p| (p.clone(), std::fs::read(&p).expect("a readable seed"))).collect()
}

/// Runs `check` on every seed of `target`, naming the seed that broke it.
fn replay(target: &str, check: fn(&[u8])) {
    for (path, data) in seeds(target) {
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "the seed {} broke the `{target}` check", path.display());
    }
}

#[test]
fn given_the_entry_body_seeds_when_sent_as_entry_account_and_reversal_then_every_invariant_holds() {
    replay("entry_body", checks::entry_body);
}

#[test]
fn given_the_money_seeds_when_read_as_amounts_and_sums_then_every_invariant_holds() {
    replay("money", checks::money);
}

#[test]
fn given_the_dates_seeds_when_read_as_dates_timestamps_and_queries_then_every_invariant_holds() {
    replay("dates", checks::dates);
}

#[test]
fn given_the_message_seeds_when_decoded_then_every_invariant_holds() {
    replay("message", checks::message);
}

#[test]
fn given_the_request_seeds_when_routed_and_handled_then_every_invariant_holds() {
    replay("request", checks::request);
}

/// The checks can fail: the entry check, handed the real handler's answer with the recorded amount
/// moved by one, panics, while the same body passes untouched.
#[test]
fn given_a_recorded_amount_misread_by_one_when_checked_then_the_entry_check_panics() {
    for body in [&br#"{"type":"credit","amount":1500}"#[..], br#"{"type":"debit","amount":100000000000000}"#] {
        checks::entry_body(body);
        let misread = std::panic::catch_unwind(|| checks::entry_body_with_misread_amount(body));
        assert!(misread.is_err(), "a misread amount passed the check for {}", String::from_utf8_lossy(body));
    }
}
