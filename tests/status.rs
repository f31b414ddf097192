//! The pages of `fluxo serve`: `GET /status` reports the consolidation switch, the queue and
//! dead-letter depths and the lag of the last batch without a token; `GET /` serves a page that, in
//! headless Chromium, shows a token's accounts with today's balance and a 30-day chart; `GET /docs`
//! renders the contract, `GET /openapi.yaml`, with the Redoc bundle built into the runner.
//!
//! The browser tests need Debian's Chromium at `/usr/bin/chromium` (`make tools` installs it): without
//! it they are skipped, except under `CI=true`, where they fail. The page formats money in pt-BR.
// Test code states what it expects with `expect`; the workspace denies it outside tests (Cargo.toml).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fluxo_test_support::blackbox as support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fluxo::adapters::embedded::{EmbeddedQueue, QueueSettings};
use fluxo::auth::Scope;
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};
use support::calendar::{days_before, local_noon, today};
use support::client::{credit, debit};
use support::{Config, Day, Merchant, Reply, TestApp, assert_problem, poll, spawn_app, spawn_with};

/// Where the tests expect Debian's Chromium package.
const CHROMIUM: &str = "/usr/bin/chromium";
/// How long one headless Chromium run may take before it is killed.
const CHROMIUM_MAX: Duration = Duration::from_secs(60);
/// Headless, as root, with the network closed: nothing but the page under test is fetched.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-proxy-server",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
];
/// A blank page renders to a PNG of a few KB; the status page with its chart is well above this.
const SCREENSHOT_MIN_BYTES: u64 = 16 * 1024;
/// Days the chart covers, today included.
const CHART_DAYS: usize = 30;

/// `GET /status`, without a token.
async fn status(app: &TestApp) -> Value {
    Reply::of(app.http.get(app.url("/status"))).await.expect(200)
}

/// A merchant of a fresh account and the token it uses, for a page to be given.
async fn open_shop(app: &TestApp, account: &str) -> (Merchant, String) {
    let token = app.token(&[account], &[Scope::Read, Scope::Write], SignedDuration::from_hours(1));
    let shop = Merchant::new(app.http.clone(), &app.address, token.clone(), account);
    shop.open().await;
    (shop, token)
}

/// Records a credit three days ago, a debit two days ago and two entries today, then waits until
/// today's balance shows all four; returns today's balance as consolidated.
async fn record_history(shop: &Merchant) -> Day {
    let today = today();
    shop.record(&credit(100_000, &local_noon(days_before(today, 3)))).await;
    shop.record(&debit(2_500, &local_noon(days_before(today, 2)))).await;
    shop.record(&json!({"type": "credit", "amount": 12_345})).await;
    shop.record(&json!({"type": "debit", "amount": 1_000})).await;
    let want = Day { opening: 97_500, credits: 12_345, debits: 1_000, net: 11_345, closing: 108_845, entry_count: 2 };
    let day = shop.day_when(today, want).await;
    assert_eq!(day, want, "consolidation did not reach today's balance in time");
    day
}

/// `minor` centavos as `Intl.NumberFormat('pt-BR', {style: 'currency', currency: 'BRL'})` writes
/// them: `R$\u{a0}1.088,45`, `-R$\u{a0}2,50`.
fn brl(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let whole = (abs / 100).to_string();
    let groups: Vec<&str> =
        whole.as_bytes().rchunks(3).rev().map(|g| std::str::from_utf8(g).expect("ASCII digits")).collect();
    format!("{sign}R$\u{a0}{},{:02}", groups.join("."), abs % 100)
}

#[tokio::test]
async fn given_consolidated_entries_when_status_is_read_without_a_token_then_it_shows_depths_and_the_lag() {
    let app = spawn_app().await;
    let before = status(&app).await;
    assert_eq!(before["lag_ms"], Value::Null, "no lag before the first batch: {before}");
    assert_eq!(before["last_batch_at"], Value::Null, "no batch time before the first batch: {before}");

    let (shop, _) = open_shop(&app, "status-json").await;
    record_history(&shop).await;
    let after = poll::until(|| status(&app), |s: &Value| s["lag_ms"].is_i64()).await;

    assert_eq!(after["consolidation"], "on", "{after}");
    for depth in ["visible", "in_flight", "dead"] {
        assert!(after["queue"][depth].as_i64().is_some_and(|n| n >= 0), "queue.{depth} in {after}");
    }
    assert_eq!(after["queue"]["dead"], 0, "{after}");
    let lag_ms = after["lag_ms"].as_i64().unwrap_or_else(|| panic!("no lag after consolidation: {after}"));
    assert!((0..60_000).contains(&lag_ms), "a lag of this run's batch: {after}");
    let at: Timestamp = after["last_batch_at"].as_str().and_then(|t| t.parse().ok()).expect("an RFC 3339 batch time");
    assert!(at <= Timestamp::now(), "the last batch is in the past: {after}");
}

#[tokio::test]
async fn given_consolidation_off_when_an_entry_waits_then_status_says_off_and_counts_it_visible() {
    let app = spawn_with(Config::new().consolidation_off()).await;
    let (shop, _) = open_shop(&app, "status-off").await;
    shop.record(&json!({"type": "credit", "amount": 700})).await;

    let seen = poll::until(|| status(&app), |s: &Value| s["queue"]["visible"] == 1).await;

    assert_eq!(seen["consolidation"], "off", "{seen}");
    assert_eq!(seen["queue"], json!({"visible": 1, "in_flight": 0, "dead": 0}), "{seen}");
    assert_eq!(seen["lag_ms"], Value::Null, "no consumer, no batch: {seen}");
}

#[tokio::test]
async fn given_a_poison_message_when_it_is_dead_lettered_then_status_counts_it_and_the_page_highlights_it() {
    if std::env::var("FLUXO_TEST_BACKEND").as_deref() == Ok("aws") {
        eprintln!("skipping: raw messages are sent to the embedded queue only");
        return;
    }
    // One receive, then the dead-letter queue; a short visibility so the second receive comes soon.
    let config = Config::new().var("FLUXO_QUEUE_MAX_RECEIVES", "1").var("FLUXO_QUEUE_VISIBILITY", "100ms");
    let app = spawn_with(config).await;
    let queue = EmbeddedQueue::open(&app.data_dir(), QueueSettings::default()).expect("the runner's queue opens");
    queue.send_raw(vec!["not a posting".to_owned()]).await.expect("a raw message is queued");

    let seen = poll::until(|| status(&app), |s: &Value| s["queue"]["dead"] == 1).await;

    assert_eq!(seen["queue"], json!({"visible": 0, "in_flight": 0, "dead": 1}), "{seen}");
    if !chromium_available() {
        return;
    }
    let dom = render(&app.url("/")).await;
    let highlighted = "<div class=\"alert\"><dt>Dead letters</dt><dd>1: needs attention</dd></div>";
    assert!(dom.contains(highlighted), "dead letters are highlighted:\n{dom}");
    assert!(dom.contains("Paste a token above"), "without a token the page asks for one:\n{dom}");
}

#[tokio::test]
async fn given_the_root_when_requested_then_it_is_a_self_contained_page_under_a_strict_policy() {
    let app = spawn_app().await;

    let page = Reply::of(app.http.get(app.url("/"))).await;

    assert_eq!(page.status, 200, "{}", page.text);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    let policy = page.header("content-security-policy").unwrap_or_default();
    for directive in ["default-src 'self'", "script-src 'unsafe-inline' 'self'", "style-src 'unsafe-inline'"] {
        assert!(policy.contains(directive), "policy {policy:?} lacks {directive:?}");
    }
    // The only absolute URL is the SVG namespace: nothing is fetched from elsewhere.
    let without_namespace = page.text.replace("http://www.w3.org/2000/svg", "");
    assert!(!without_namespace.contains("http://") && !without_namespace.contains("https://"), "external URL in page");
    assert!(page.text.contains("type=\"password\""), "the token input is masked");
    for path in ["/", "/status"] {
        let refused = Reply::of(app.http.post(app.url(path))).await;
        assert_problem(&refused, 405);
        assert_eq!(refused.header("allow"), Some("GET"), "Allow of {path}");
    }
}

#[tokio::test]
async fn given_a_token_when_the_page_renders_in_chromium_then_it_shows_todays_closing_and_a_30_day_chart() {
    if !chromium_available() {
        return;
    }
    let app = spawn_app().await;
    let (shop, token) = open_shop(&app, "status-shop").await;
    let day = record_history(&shop).await;
    let page = format!("{}#token={token}", app.url("/"));

    let dom = render(&page).await;

    assert!(dom.contains("(status-shop)"), "the account id is shown:\n{dom}");
    let closing = brl(day.closing);
    assert!(dom.contains(&format!("class=\"closing\">{closing}<")), "today's closing {closing:?} is shown:\n{dom}");
    assert!(dom.contains(&format!("max {closing}")) && dom.contains(&format!("min {}", brl(0))), "min/max labels");
    assert!(dom.contains("<svg"), "an SVG chart:\n{dom}");
    let points = chart_points(&dom);
    assert_eq!(points.len(), CHART_DAYS, "one point per day of the chart:\n{dom}");
    // SVG y grows downwards: the first day (nothing yet) is the lowest point, today the highest.
    let (first, last) = (points[0].1, points[CHART_DAYS - 1].1);
    assert!(points.iter().all(|&(_, y)| (last..=first).contains(&y)), "the chart follows the balances: {points:?}");
    assert!(dom.contains("<dt>Dead letters</dt><dd>0</dd>"), "the dead letters from /status:\n{dom}");

    let png = screenshot(&page).await;
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    let size = u64::try_from(png.len()).expect("a small file");
    assert!(size > SCREENSHOT_MIN_BYTES, "a screenshot of {size} bytes is too small to show the page");
    let keep = target_dir().join("status.png");
    std::fs::write(&keep, &png).expect("the screenshot is copied to target/");
    eprintln!("screenshot: {}", keep.display());
}

#[tokio::test]
async fn given_a_token_for_an_unknown_account_when_the_page_renders_then_it_reads_not_found() {
    if !chromium_available() {
        return;
    }
    let app = spawn_app().await;
    let token = app.token(&["ghost-shop"], &[Scope::Read], SignedDuration::from_hours(1));

    let dom = render(&format!("{}#token={token}", app.url("/"))).await;

    assert!(dom.contains("Account ghost-shop was not found (404): "), "a readable 404:\n{dom}");
}

#[tokio::test]
async fn given_the_contract_when_requested_then_it_is_the_document_and_its_page_loads_nothing_from_elsewhere() {
    let app = spawn_app().await;

    let document = Reply::of(app.http.get(app.url("/openapi.yaml"))).await;
    assert_eq!((document.status, document.header("content-type")), (200, Some("application/yaml")));
    let source = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml"));
    assert_eq!(document.text, source.expect("docs/openapi.yaml"), "the document as it is in docs/");
    let page = Reply::of(app.http.get(app.url("/docs"))).await;
    assert_eq!((page.status, page.header("content-type")), (200, Some("text/html; charset=utf-8")));
    let policy = page.header("content-security-policy").unwrap_or_default();
    assert!(policy.contains("script-src 'self';"), "only this origin's scripts run: {policy:?}");
    assert!(!page.text.contains("http://") && !page.text.contains("https://"), "external URL in the page");
    let bundle = Reply::of(app.http.get(app.url("/docs/redoc.standalone.js"))).await;
    assert_eq!((bundle.status, bundle.header("content-type")), (200, Some("text/javascript; charset=utf-8")));
    assert!(bundle.text.len() > 1_000_000, "Redoc's bundle, {} bytes", bundle.text.len());
    for path in ["/openapi.yaml", "/docs", "/docs/redoc.standalone.js", "/ready"] {
        let refused = Reply::of(app.http.post(app.url(path))).await;
        assert_eq!((refused.status, refused.header("allow")), (405, Some("GET")), "{path}");
    }
}

#[tokio::test]
async fn given_the_docs_page_when_it_renders_in_chromium_then_it_shows_every_operation_of_the_contract() {
    if !chromium_available() {
        return;
    }
    let app = spawn_app().await;

    let dom = render(&app.url("/docs")).await;

    let yaml = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.yaml"));
    let summaries: Vec<String> = yaml
        .expect("docs/openapi.yaml")
        .lines()
        .filter_map(|l| l.strip_prefix("      summary: ").map(str::to_owned))
        .collect();
    assert!(summaries.len() >= 10, "the document's operations: {summaries:?}");
    for summary in &summaries {
        assert!(dom.contains(summary.as_str()), "the page shows {summary:?}");
    }
    let png = screenshot(&app.url("/docs")).await;
    assert!(png.len() as u64 > SCREENSHOT_MIN_BYTES, "a screenshot of {} bytes is too small", png.len());
    let keep = target_dir().join("docs.png");
    std::fs::write(&keep, &png).expect("the screenshot is copied to target/");
    eprintln!("screenshot: {}", keep.display());
}

/// Whether Chromium is installed; when missing it fails the test under `CI=true` and skips it elsewhere.
fn chromium_available() -> bool {
    if Path::new(CHROMIUM).exists() {
        return true;
    }
    assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "{CHROMIUM} is missing under CI: run `make tools`");
    eprintln!("skipping: {CHROMIUM} is missing (`make tools` installs it)");
    false
}

/// The DOM of `url` after its scripts ran, with non-breaking spaces as characters.
async fn render(url: &str) -> String {
    let out = chromium(url, &["--dump-dom".to_owned()]).await;
    String::from_utf8(out).expect("the DOM is UTF-8").replace("&nbsp;", "\u{a0}")
}

/// A 1200x900 screenshot of `url`, as PNG bytes.
async fn screenshot(url: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("a directory for the screenshot");
    let file = dir.path().join("status.png");
    let args = [format!("--screenshot={}", file.display()), "--window-size=1200,900".to_owned()];
    chromium(url, &args).await;
    std::fs::read(&file).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", file.display()))
}

/// Runs headless Chromium on `url` with a fresh profile and returns its stdout; kills it (and the
/// processes it started) after [`CHROMIUM_MAX`].
async fn chromium(url: &str, args: &[String]) -> Vec<u8> {
    let profile = tempfile::tempdir().expect("a fresh Chromium profile");
    let mut cmd = tokio::process::Command::new(CHROMIUM);
    cmd.args(CHROMIUM_FLAGS).arg(format!("--user-data-dir={}", profile.path().display())).args(args).arg(url);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).process_group(0);
    let child = cmd.spawn().expect("chromium starts");
    let group = child.id().expect("a running chromium has a pid");
    match tokio::time::timeout(CHROMIUM_MAX, child.wait_with_output()).await {
        Ok(output) => {
            let output = output.expect("waiting for chromium");
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "chromium failed ({}):\n{stderr}", output.status);
            output.stdout
        }
        Err(_) => {
            // Its own process group, so its renderer and GPU helpers go too.
            let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{group}")]).status();
            panic!("chromium did not finish within {CHROMIUM_MAX:?}");
        }
    }
}

/// The `x,y` pairs of the chart's line.
fn chart_points(dom: &str) -> Vec<(f64, f64)> {
    let line = dom.split("<polyline").nth(1).expect("a polyline in the chart");
    let points = line.split("points=\"").nth(1).and_then(|p| p.split('"').next()).expect("a points attribute");
    points
        .split_whitespace()
        .map(|pair| {
            let (x, y) = pair.split_once(',').unwrap_or_else(|| panic!("a point {pair:?}"));
            (x.parse().expect("a numeric x"), y.parse().expect("a numeric y"))
        })
        .collect()
}

/// The workspace's `target/` directory (or `CARGO_TARGET_DIR`), where the screenshot is kept.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

#[test]
fn brl_formats_like_pt_br() {
    assert_eq!(brl(108_845), "R$\u{a0}1.088,45");
    assert_eq!(brl(0), "R$\u{a0}0,00");
    assert_eq!(brl(-250), "-R$\u{a0}2,50");
    assert_eq!(brl(12_345_678_901), "R$\u{a0}123.456.789,01");
}
