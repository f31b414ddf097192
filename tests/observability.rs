//! What an operator sees of `fluxo serve` without reading code: one JSON log line per request with
//! its request id, account, entry and outcome; the metrics at `/metrics`; and never a token, the
//! secret, or a request body in the logs.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fluxo_test_support::blackbox as support;

use serde_json::{Value, json};
use support::calendar::today;
use support::client::key;
use support::{Day, Reply, poll, spawn_app};

/// The log lines that parse as JSON objects.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

fn field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line.get("fields").and_then(|f| f.get(name))
}

/// The runner's Prometheus text, once `metric` appears in it (or the last reading).
async fn metrics_with(app: &support::TestApp, metric: &str) -> String {
    let read =
        || async { app.http.get(app.url("/metrics")).send().await.expect("GET /metrics").text().await.expect("text") };
    poll::until(read, |text: &String| text.contains(metric)).await
}

/// The value of a counter or gauge line `name{...} value`, summed over its label sets.
fn counter(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn given_an_entry_when_it_is_recorded_then_a_json_log_line_names_request_account_entry_and_outcome() {
    let app = spawn_app().await;
    let shop = app.merchant("obs-shop");
    shop.open().await;
    let entry = shop.record(&json!({"type": "credit", "amount": 4200})).await;
    let id = entry["id"].as_str().expect("id").to_owned();

    let lines = poll::until(
        || async { json_lines(&app.log()) },
        |lines: &Vec<Value>| lines.iter().any(|l| field(l, "op") == Some(&json!("RecordEntry"))),
    )
    .await;
    let request =
        lines.iter().find(|l| field(l, "op") == Some(&json!("RecordEntry"))).expect("a request line for the POST");
    assert_eq!(field(request, "status"), Some(&json!(201)));
    assert_eq!(field(request, "account_id"), Some(&json!("obs-shop")));
    let request_id = field(request, "request_id").and_then(Value::as_str).unwrap_or_default();
    assert_eq!(request_id.len(), 36, "a request id in UUID form: {request:?}");
    assert_eq!(field(request, "entry_id"), Some(&json!(id)), "the request line names the entry it recorded");

    // The same entry id follows the posting to the balance it moved.
    let applied_line = |lines: &Vec<Value>| {
        lines.iter().any(|l| {
            let ids = field(l, "entry_ids").and_then(Value::as_str).unwrap_or_default();
            field(l, "message") == Some(&json!("postings applied")) && ids.split(',').any(|i| i == id)
        })
    };
    let lines = poll::until(|| async { json_lines(&app.log()) }, applied_line).await;
    assert!(applied_line(&lines), "no \"postings applied\" line names {id}");
}

#[tokio::test]
async fn given_traffic_when_metrics_are_scraped_then_counters_and_the_consolidation_lag_are_there() {
    let app = spawn_app().await;
    let shop = app.merchant("metrics-shop");
    shop.open().await;
    let k = key();
    let body = json!({"type": "credit", "amount": 100});
    Reply::of(shop.post_entry(&k, &body)).await.expect(201);
    Reply::of(shop.post_entry(&k, &body)).await.expect(200);
    Reply::of(shop.post_entry(&key(), &json!({"type": "credit", "amount": 0}))).await.expect(422);
    let day = shop
        .day_when(today(), Day { opening: 0, credits: 100, debits: 0, net: 100, closing: 100, entry_count: 1 })
        .await;
    assert_eq!(day.entry_count, 1);

    let text = metrics_with(&app, "consolidation_lag_ms").await;
    assert_eq!(counter(&text, "entries_recorded"), 1.0, "{text}");
    assert_eq!(counter(&text, "idempotent_replays"), 1.0, "{text}");
    assert!(text.contains("validation_failures{field=\"amount\"} 1"), "{text}");
    assert!(counter(&text, "entries_consolidated") >= 1.0, "{text}");
    assert!(text.contains("consolidation_lag_ms"), "{text}");
}

#[tokio::test]
async fn no_log_line_holds_a_token_the_secret_or_a_request_body() {
    let app = spawn_app().await;
    let shop = app.merchant("quiet-shop");
    shop.open().await;
    let marker = "padaria-confidential-description-7d1f";
    shop.record(&json!({"type": "debit", "amount": 777, "description": marker})).await;
    // A refused body and a forged token are logged as refusals, without their content.
    Reply::of(shop.post_body(
        &key(),
        Some("application/json"),
        format!("{{\"type\":\"credit\",\"amount\":\"{marker}\"}}"),
    ))
    .await
    .expect(422);
    let forged = app.token(&["quiet-shop"], &[fluxo::auth::Scope::Read], jiff::SignedDuration::from_hours(1)) + "x";
    Reply::of(shop.with_token(forged.clone()).daily(&today().to_string())).await.expect(401);
    let token = app.token(
        &["quiet-shop"],
        &[fluxo::auth::Scope::Read, fluxo::auth::Scope::Write],
        jiff::SignedDuration::from_hours(1),
    );
    Reply::of(shop.with_token(token.clone()).daily(&today().to_string())).await.expect(200);

    let log =
        poll::until(|| async { app.log() }, |log: &String| log.matches("\"message\":\"request\"").count() >= 5).await;
    assert!(log.matches("\"message\":\"request\"").count() >= 5, "the requests were logged:\n{log}");
    let signature = |t: &str| t.rsplit('.').next().unwrap_or_default().to_owned();
    for (what, needle) in [
        ("the description", marker.to_owned()),
        ("a valid token", signature(&token)),
        ("a forged token", signature(&forged)),
        ("the secret", app.secret().to_owned()),
        ("the bearer header", "Bearer ".to_owned()),
    ] {
        assert!(!log.contains(&needle), "the log holds {what}:\n{log}");
    }
}
