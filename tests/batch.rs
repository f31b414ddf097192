//! Black-box tests of `POST /v1/accounts/{account}/entries/batch`: each test starts the real
//! `fluxo serve` (on the embedded store, or on DynamoDB and SQS under `FLUXO_TEST_BACKEND=aws`) and
//! speaks only HTTP to it. A batch records each valid entry as a single request would, answers one
//! result per entry in order, and refuses as a whole, writing nothing, only what is wrong with the
//! batch itself.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fluxo_test_support::blackbox as support;

use fluxo::auth::Scope;
use jiff::SignedDuration;
use jiff::civil::Date;
use serde_json::{Value, json};

use support::calendar::{days_before, local_noon, today};
use support::client::{credit, debit, id, key, keyed};
use support::{Config, Day, Merchant, Reply, TestApp, assert_fields, assert_problem, spawn_with};

const SHOP: &str = "shop-1";
const BATCH_BODY_BYTES_MAX: usize = 256 * 1024;

fn yesterday() -> Date {
    days_before(today(), 1)
}

/// A runner with an open account and its owner. The caller's rate limit is far above what the tests
/// send: the default burst is one full batch, and a test that sent one could not read its entries
/// for the five seconds the bucket takes to refill. The limit on batches has tests of its own
/// (`runner/src/limit.rs`).
async fn shop() -> (TestApp, Merchant) {
    let app = spawn_with(Config::new().var("FLUXO_RATE_PER_MIN", "6000000").var("FLUXO_RATE_BURST", "100000")).await;
    let owner = app.merchant(SHOP);
    owner.open().await;
    (app, owner)
}

/// The `results` of a 200 batch answer, one per entry sent.
fn results(reply: &Reply, sent: usize) -> Vec<Value> {
    let body = reply.expect(200);
    let results = body["results"].as_array().unwrap_or_else(|| panic!("no results in {body}")).clone();
    assert_eq!(results.len(), sent, "one result per entry: {body}");
    results
}

fn statuses(results: &[Value]) -> Vec<u64> {
    results.iter().map(|r| r["status"].as_u64().unwrap_or_else(|| panic!("no status in {r}"))).collect()
}

/// The entries of the results that recorded or replayed one.
fn entries(results: &[Value]) -> Vec<Value> {
    results.iter().filter(|r| r["entry"].is_object()).map(|r| r["entry"].clone()).collect()
}

/// `count` credits of 1..=count minor units that occurred at `at`, each under a fresh key.
fn credits(count: usize, at: &str) -> Vec<Value> {
    (1..=count).map(|n| keyed(&key(), &credit(i64::try_from(n).expect("small"), at))).collect()
}

#[tokio::test]
async fn a_batch_records_its_valid_entries_refuses_its_invalid_ones_and_answers_each_in_order() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let at = local_noon(day);
    let sent = vec![
        keyed(&key(), &credit(1500, &at)),
        keyed(&key(), &credit(-3, &at)),
        credit(7, &at),
        keyed(&key(), &debit(400, &at)),
        json!("not an entry"),
        keyed(&key(), &json!({"type": "credit", "amount": 9, "occurred_at": at, "currency": "USD"})),
        keyed(&key(), &json!({"type": "credit", "amount": 9, "occurred_at": local_noon(days_before(today(), 40))})),
        keyed(&key(), &json!({"type": "debit", "amount": 1, "occurred_at": at, "extra": true})),
        keyed(&key(), &credit(25, &at)),
    ];
    let results = results(&Reply::of(owner.post_batch(&sent)).await, sent.len());
    assert_eq!(statuses(&results), [201, 422, 422, 201, 422, 422, 422, 422, 201]);
    let refused_fields = ["", "amount", "idempotency_key", "", "entry", "currency", "occurred_at", "extra", ""];
    for (result, field) in results.iter().zip(refused_fields) {
        if field.is_empty() {
            continue;
        }
        let problem = &result["problem"];
        assert_eq!(problem["status"], 422, "{result}");
        assert_eq!(problem["type"], "urn:fluxo:problem:validation", "{result}");
        assert!(problem["errors"].as_array().is_some_and(|e| e.iter().any(|e| e["field"] == field)), "{result}");
    }
    let recorded = entries(&results);
    assert_eq!(recorded.iter().map(|e| e["amount"].clone()).collect::<Vec<_>>(), [json!(1500), json!(400), json!(25)]);
    let mut listed = owner.entries_on(day).await;
    listed.sort_by_key(id);
    let mut expected = recorded.clone();
    expected.sort_by_key(id);
    assert_eq!(listed, expected, "the day holds exactly the recorded entries");
    let want = Day::of(0, &recorded);
    assert_eq!(owner.day_when(day, want).await, want, "the recorded entries reach the day's balance");
}

#[tokio::test]
async fn resending_a_batch_records_nothing_new_and_replays_each_entry() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let sent = credits(20, &local_noon(day));
    let first = results(&Reply::of(owner.post_batch(&sent)).await, sent.len());
    assert!(statuses(&first).iter().all(|s| *s == 201), "{first:?}");
    let again = results(&Reply::of(owner.post_batch(&sent)).await, sent.len());
    assert!(statuses(&again).iter().all(|s| *s == 200), "{again:?}");
    assert!(again.iter().all(|r| r["replayed"] == true), "{again:?}");
    assert_eq!(entries(&again), entries(&first), "a replay answers the entries first recorded");
    assert_eq!(owner.entries_on(day).await.len(), sent.len(), "the resent batch recorded entries again");
    let want = Day::of(0, &entries(&first));
    assert_eq!(owner.day_when(day, want).await, want, "each entry counts once in its balance");
}

#[tokio::test]
async fn a_key_reused_for_another_entry_is_409_for_that_entry_alone() {
    let (_app, owner) = shop().await;
    let at = local_noon(yesterday());
    let (k1, k2) = (key(), key());
    let single = Reply::of(owner.post_entry(&k1, &credit(100, &at))).await.expect(201);
    let sent = vec![keyed(&k1, &credit(100, &at)), keyed(&k2, &debit(30, &at))];
    let replayed = results(&Reply::of(owner.post_batch(&sent)).await, 2);
    assert_eq!(statuses(&replayed), [200, 201]);
    assert_eq!(replayed[0]["entry"], single, "a batch entry replays the single request that used its key");
    let reused = vec![keyed(&k1, &credit(101, &at)), keyed(&k2, &debit(30, &at)), keyed(&key(), &credit(5, &at))];
    let answered = results(&Reply::of(owner.post_batch(&reused)).await, 3);
    assert_eq!(statuses(&answered), [409, 200, 201]);
    assert_eq!(answered[0]["problem"]["type"], "urn:fluxo:problem:conflict");
    assert_eq!(owner.entries_on(yesterday()).await.len(), 3, "the reused key wrote an entry");
}

#[tokio::test]
async fn what_is_wrong_with_the_batch_itself_refuses_all_of_it_and_writes_nothing() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let at = local_noon(day);
    let json = Some("application/json");
    let good = credits(2, &at);
    let repeated = key();
    let duplicates = json!({"entries": [keyed(&repeated, &credit(1, &at)), keyed(&key(), &credit(2, &at)), keyed(&repeated, &credit(3, &at))]});
    let over = json!({ "entries": credits(501, &at) });
    let envelope = |extra: Value| {
        let mut body = json!({ "entries": good });
        body.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        body.to_string()
    };
    let cases: Vec<(String, Option<&str>, u16, Option<&str>)> = vec![
        (r#"{"entries":[{"type":"#.to_owned(), json, 400, None),
        (json!({ "entries": good }).to_string(), Some("text/plain"), 415, None),
        ("[]".to_owned(), json, 422, Some("body")),
        ("{}".to_owned(), json, 422, Some("entries")),
        (String::new(), json, 422, Some("entries")),
        (r#"{"entries":null}"#.to_owned(), json, 422, Some("entries")),
        (r#"{"entries":{}}"#.to_owned(), json, 422, Some("entries")),
        (r#"{"entries":[]}"#.to_owned(), json, 422, Some("entries")),
        (over.to_string(), json, 422, Some("entries")),
        (envelope(json!({"note": "x"})), json, 422, Some("note")),
        (format!(r#"{{"entries":[],"entries":{}}}"#, json!(good)), json, 422, Some("entries")),
        (duplicates.to_string(), json, 422, Some("entries[2].idempotency_key")),
        (format!("{}{}", envelope(json!({})), " ".repeat(BATCH_BODY_BYTES_MAX)), json, 413, None),
    ];
    for (body, content_type, status, field) in cases {
        let reply = Reply::of(owner.post_batch_body(content_type, body.clone())).await;
        let context = body.chars().take(80).collect::<String>();
        assert_eq!(reply.status, status, "{context}: {}", reply.text);
        match field {
            Some(field) => assert_fields(&reply, &[field]),
            None => assert_problem(&reply, status),
        };
    }
    assert_eq!(owner.entries_on(day).await, Vec::<Value>::new(), "a refused batch wrote an entry");
}

#[tokio::test]
async fn a_full_batch_padded_to_the_body_limit_is_recorded_and_one_byte_more_is_413() {
    let (_app, owner) = shop().await;
    let day = yesterday();
    let sent = credits(500, &local_noon(day));
    let body = json!({ "entries": sent }).to_string();
    let padded = |len: usize| format!("{body}{}", " ".repeat(len - body.len()));
    let json = Some("application/json");
    assert_problem(&Reply::of(owner.post_batch_body(json, padded(BATCH_BODY_BYTES_MAX + 1))).await, 413);
    let recorded = results(&Reply::of(owner.post_batch_body(json, padded(BATCH_BODY_BYTES_MAX))).await, 500);
    assert!(statuses(&recorded).iter().all(|s| *s == 201), "{recorded:?}");
    // Every entry is listed; their balance is left to the other tests, since consolidating 500
    // entries on the emulator takes longer than a test waits.
    let mut listed: Vec<Value> = owner.entries_on(day).await;
    listed.sort_by_key(id);
    let mut expected = entries(&recorded);
    expected.sort_by_key(id);
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn batches_need_a_token_with_the_account_and_the_write_scope_and_an_open_account() {
    let (app, owner) = shop().await;
    let at = local_noon(yesterday());
    let sent = credits(2, &at);
    let hour = SignedDuration::from_hours(1);
    let no_token =
        app.http.post(app.url(&format!("/v1/accounts/{SHOP}/entries/batch"))).json(&json!({"entries": sent}));
    assert_problem(&Reply::of(no_token).await, 401);
    let reader = owner.with_token(app.token(&[SHOP], &[Scope::Read], hour));
    assert_problem(&Reply::of(reader.post_batch(&sent)).await, 403);
    let stranger = owner.with_token(app.token(&["shop-2"], &[Scope::Write], hour));
    assert_problem(&Reply::of(stranger.post_batch(&sent)).await, 403);
    let unopened = app.merchant("shop-3");
    assert_problem(&Reply::of(unopened.post_batch(&sent)).await, 404);
    assert_eq!(owner.entries_on(yesterday()).await, Vec::<Value>::new(), "a refused batch wrote an entry");
}

// ---------------------------------------------------------------------------------------------
// `fluxo import` and `fluxo export`, against the same runner

/// Runs `fluxo <args>` against `app` with a token for the shop; returns its exit code and output.
async fn fluxo(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    let token = app.token(&[SHOP], &[Scope::Read, Scope::Write], SignedDuration::from_hours(1));
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_fluxo"))
        .args(args)
        .env("FLUXO_URL", &app.address)
        .env("FLUXO_TOKEN", token)
        .output()
        .await
        .expect("fluxo runs");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8 output");
    (output.status.code().unwrap_or(-1), text(output.stdout), text(output.stderr))
}

#[tokio::test]
async fn fluxo_import_records_each_line_once_however_often_it_runs_and_names_the_lines_it_refuses() {
    // GIVEN a CSV of a day's sales with two lines the ledger refuses and one with a key of its own.
    let (app, owner) = shop().await;
    let day = yesterday();
    let at = local_noon(day);
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("sales.csv");
    let mut csv = String::from("type,amount,description,occurred_at,idempotency_key,till\n");
    for n in 1..=30 {
        csv.push_str(&format!("credit,{n}00,\"sale {n}, counter\",{at},,7\n"));
    }
    csv.push_str(&format!("credit,15.00,decimal,{at},,7\nrefund,100,wrong type,{at},,7\n"));
    csv.push_str(&format!("debit,250,change,{at},till-7-change,7\n"));
    std::fs::write(&file, csv).expect("the file is written");
    let path = file.to_str().expect("a UTF-8 path");

    // WHEN it is imported, and imported again.
    let (first, out, err) = fluxo(&app, &["import", "--account", SHOP, "--batch-size", "7", path]).await;
    let (second, again, _) = fluxo(&app, &["import", "--account", SHOP, path]).await;

    // THEN the good lines are recorded once, the refused ones named with their reasons, exit 1 both times.
    assert_eq!(first, 1, "{out}{err}");
    assert!(out.contains("recorded 31 · replayed 0 · refused 2"), "{out}");
    assert_eq!(second, 1, "{again}");
    assert!(again.contains("recorded 0 · replayed 31 · refused 2"), "{again}");
    let entries = owner.entries_on(day).await;
    assert_eq!(entries.len(), 31, "each good line once");
    let total: i64 =
        entries.iter().map(|e| e["amount"].as_i64().expect("amount") * if e["type"] == "debit" { -1 } else { 1 }).sum();
    assert_eq!(total, (1..=30).map(|n| n * 100).sum::<i64>() - 250);
    let rejects = std::fs::read_to_string(dir.path().join("sales.csv.rejects.csv")).expect("a rejects file");
    let rows: Vec<&str> = rejects.lines().collect();
    assert_eq!(rows.len(), 3, "{rejects}");
    assert!(rows[0].starts_with("line,status,reason,type,amount"), "{rejects}");
    assert!(rows[1].starts_with("32,422,amount: must be an integer"), "{rejects}");
    assert!(rows[2].starts_with("33,422,\"type: must be"), "{rejects}");

    // AND an export of the day names the same entries, in columns the import reads.
    let exported = dir.path().join("export.csv");
    let day_text = day.to_string();
    let args = [
        "export",
        "--account",
        SHOP,
        "--from",
        &day_text,
        "--to",
        &day_text,
        "--output",
        exported.to_str().expect("path"),
    ];
    let (status, _, err) = fluxo(&app, &args).await;
    assert_eq!(status, 0, "{err}");
    let mut reader = csv::Reader::from_path(exported).expect("the export");
    let header: Vec<String> = reader.headers().expect("a header").iter().map(str::to_owned).collect();
    assert_eq!(
        header.join(","),
        "type,amount,description,occurred_at,currency,id,business_date,recorded_at,reverses,reversed_by"
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a row")).collect();
    assert!(rows.iter().any(|r| &r[2] == "sale 1, counter"), "descriptions keep their commas");
    let mut ids: Vec<String> = rows.iter().map(|r| r[5].to_owned()).collect();
    ids.sort();
    let mut want: Vec<String> = entries.iter().map(id).collect();
    want.sort();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn fluxo_import_of_json_lines_refuses_what_is_not_an_entry_and_records_the_rest() {
    let (app, owner) = shop().await;
    let day = yesterday();
    let at = local_noon(day);
    let dir = tempfile::tempdir().expect("a directory");
    let file = dir.path().join("day.jsonl");
    let lines = [
        credit(100, &at).to_string(),
        String::new(),
        "not json".to_owned(),
        keyed("pos-1", &debit(40, &at)).to_string(),
        r#"{"type":"credit","amount":1,"amount":2}"#.to_owned(),
    ];
    std::fs::write(&file, lines.join("\n")).expect("the file is written");
    let (status, out, err) = fluxo(&app, &["import", "--account", SHOP, file.to_str().expect("path")]).await;
    assert_eq!(status, 1, "{out}{err}");
    assert!(out.contains("recorded 2 · replayed 0 · refused 2"), "{out}");
    let amounts: Vec<i64> = owner.entries_on(day).await.iter().map(|e| e["amount"].as_i64().expect("amount")).collect();
    assert_eq!(amounts.len(), 2);
    assert!(amounts.contains(&100) && amounts.contains(&40), "{amounts:?}");
    let rejects = std::fs::read_to_string(dir.path().join("day.jsonl.rejects.csv")).expect("a rejects file");
    assert!(rejects.contains("3,unread,not a JSON object"), "{rejects}");
    assert!(rejects.contains("5,422,amount: appears more than once"), "{rejects}");
    // An import of a file the ledger takes whole exits 0, and one for an account the token lacks stops with 2.
    let clean = dir.path().join("clean.jsonl");
    std::fs::write(&clean, credit(7, &at).to_string()).expect("the file is written");
    assert_eq!(fluxo(&app, &["import", "--account", SHOP, clean.to_str().expect("path")]).await.0, 0);
    let (status, _, err) = fluxo(&app, &["import", "--account", "shop-9", clean.to_str().expect("path")]).await;
    assert_eq!(status, 2, "{err}");
    assert!(err.contains("403"), "{err}");
}
