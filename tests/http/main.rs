//! Black-box tests of the v1 HTTP contract. Each test starts the real `fluxo serve` on port 0 over
//! its own data directory and speaks only HTTP to it; the scenarios at the end kill, stop and
//! restart it on the same directory. Consolidation is asynchronous: balances are polled until they
//! match or a bounded deadline passes, then asserted.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fluxo_test_support::blackbox as support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use fluxo::auth::{Scope, TokenBinding, issue};
use jiff::SignedDuration;
use jiff::civil::Date;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinSet;

use support::app::queued;
use support::calendar::{ZONE, business_date, days_before, from_now, local_noon, today, utc};
use support::client::{amount, credit, debit, id, key};
use support::poll::{self, SETTLE_MAX};
use support::{Config, Day, Merchant, Reply, TestApp, assert_fields, assert_problem, spawn_app, spawn_with};

const SHOP: &str = "shop-1";
/// A well-formed UUIDv7 that no entry has.
const UNKNOWN_ENTRY: &str = "0190a6b2-7c3e-7abc-8def-0123456789ab";
/// A well-formed UUID of version 4, which is not an entry id.
const V4_UUID: &str = "550e8400-e29b-41d4-a716-446655440000";

fn hour() -> SignedDuration {
    SignedDuration::from_hours(1)
}

fn yesterday() -> Date {
    days_before(today(), 1)
}

/// A runner with an open account and its owner.
async fn shop() -> (TestApp, Merchant) {
    let app = spawn_app().await;
    let owner = app.merchant(SHOP);
    owner.open().await;
    (app, owner)
}

/// `base` with `patch` applied: a `null` in the patch removes the member.
fn with(base: &Value, patch: Value) -> Value {
    let mut out = base.clone();
    for (name, value) in patch.as_object().expect("a patch object") {
        match value {
            Value::Null => out.as_object_mut().expect("an object").remove(name),
            v => out.as_object_mut().expect("an object").insert(name.clone(), v.clone()),
        };
    }
    out
}

/// The names of a JSON object's members, sorted.
fn members(body: &Value) -> Vec<&str> {
    let mut names: Vec<&str> = body.as_object().expect("an object").keys().map(String::as_str).collect();
    names.sort_unstable();
    names
}

fn ids(entries: &[Value]) -> Vec<String> {
    entries.iter().map(id).collect()
}

mod accounts;
mod auth;
mod balances;
mod caching;
mod entries;
mod lifecycle;
mod listing;
mod reversals;
mod routing;
