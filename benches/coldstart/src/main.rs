//! Cold start of each function binary under a loopback Lambda Runtime API emulator.
//!
//! For every run the emulator starts a fresh Runtime API server and a fresh stand-in AWS endpoint,
//! spawns the binary with the Lambda environment (`AWS_LAMBDA_RUNTIME_API` and the function
//! variables, dummy credentials, `AWS_ENDPOINT_URL` at the stand-in, and the `FLUXO_*` settings
//! `infra/functions.tf` gives the functions), hands it one sample event from `events/`, and records:
//!
//! - **ready**: spawn to its first `GET /runtime/invocation/next`, i.e. the end of init;
//! - **first response**: spawn to the `POST .../response` (or `.../error`) of that first invocation;
//! - **peak RSS**: `VmHWM` from `/proc/<pid>/status`, read once it asks for its second event;
//! - **AWS requests** the stand-in received before `ready` (must be none: clients are only
//!   constructed at init) and during the first invocation.
//!
//! The stand-in AWS endpoint answers every request `200 {}`: an empty DynamoDB result (no item, no
//! query rows), so a first invocation runs its real SDK path (credentials, signing, connection,
//! retry wrapper) without any emulator's own latency. The functions then answer as on an empty
//! table: ingest and report 404 for the unknown account, consolidate reports its postings failed,
//! relay, given the reconciliation schedule, finds no account to reconcile.
//!
//! Runs are interleaved (run 1 of every binary, then run 2, ...) so that load from anything else on
//! the machine spreads over all binaries alike, after one discarded warm-up run each so every binary
//! starts from the page cache. Usage:
//!
//! ```sh
//! cargo run --release -p fluxo-coldstart -- [--runs 20] [--bin-dir target/release] [--events events]
//! ```

mod wire;

use std::io;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wire::{Request, Server};

/// How long one run may take before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(10);

/// Targets from the performance brief.
const READY_MS_TARGET: f64 = 15.0;
const RSS_MB_TARGET: f64 = 20.0;

/// A binary under test: its file in the bin dir, its memory setting and its first event.
struct Function {
    name: &'static str,
    memory_mb: u32,
    event: &'static str,
}

/// Memory sizes are the defaults of `infra/variables.tf`; the floor gets Lambda's smallest.
const FUNCTIONS: [Function; 5] = [
    Function { name: "hello", memory_mb: 128, event: "scheduled/relay.json" },
    Function { name: "ingest", memory_mb: 256, event: "apigw-rest/post-entry.json" },
    Function { name: "report", memory_mb: 256, event: "apigw-rest/daily-balance.json" },
    Function { name: "consolidate", memory_mb: 512, event: "sqs/batch.json" },
    Function { name: "relay", memory_mb: 256, event: "scheduled/relay.json" },
];

/// What the Runtime API server saw, in the order it saw it.
enum Signal {
    /// The `index`th `GET .../invocation/next` (0 is the end of init).
    Next { at: Instant, index: u32 },
    /// The first invocation's outcome was posted; `error` holds the body of an error post.
    Outcome { at: Instant, error: Option<String> },
}

/// One run's measurements.
struct Sample {
    ready: Duration,
    first_response: Duration,
    peak_rss_kb: u64,
    aws_before_ready: usize,
    aws_first_invocation: usize,
    error: Option<String>,
}

/// The Runtime API: the first `next` gets `event`, later ones are held open (as Lambda does
/// between invocations) until the process is killed.
fn runtime_api(event: Vec<u8>, signals: Sender<Signal>) -> io::Result<Server> {
    let nexts = AtomicU32::new(0);
    let signals = Mutex::new(signals);
    Server::start(move |request: Request, stream: &mut TcpStream| {
        let at = Instant::now();
        let send = |signal| signals.lock().map(|s| s.send(signal).is_ok()).unwrap_or(false);
        let path = request.path.as_str();
        if request.method == "GET" && path.ends_with("/runtime/invocation/next") {
            let index = nexts.fetch_add(1, Ordering::SeqCst);
            send(Signal::Next { at, index });
            if index > 0 {
                // Hold the request unanswered, as Lambda does between invocations, until the
                // process is killed and its end of the connection closes.
                let _ = io::copy(stream, &mut io::sink());
                return Ok(false);
            }
            let deadline_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() + 30_000)
                .unwrap_or_default()
                .to_string();
            let headers = [
                ("content-type", "application/json"),
                ("lambda-runtime-aws-request-id", "coldstart-0"),
                ("lambda-runtime-deadline-ms", deadline_ms.as_str()),
                ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:coldstart"),
                ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Sampled=0"),
            ];
            wire::write_response(stream, 200, &headers, &event)?;
            return Ok(true);
        }
        if request.method == "POST" && (path.ends_with("/response") || path.ends_with("/error")) {
            let error = path.ends_with("/error").then(|| String::from_utf8_lossy(&request.body).into_owned());
            send(Signal::Outcome { at, error });
            wire::write_response(stream, 202, &[("content-type", "application/json")], br#"{"status":"OK"}"#)?;
            return Ok(true);
        }
        wire::write_response(stream, 404, &[], b"")?;
        Ok(true)
    })
}

/// The stand-in AWS endpoint: records when each request arrived and answers it with an empty result.
fn aws_stand_in(arrivals: Arc<Mutex<Vec<Instant>>>) -> io::Result<Server> {
    Server::start(move |_request: Request, stream: &mut TcpStream| {
        if let Ok(mut arrivals) = arrivals.lock() {
            arrivals.push(Instant::now());
        }
        let headers = [("content-type", "application/x-amz-json-1.0"), ("x-amzn-requestid", "coldstart")];
        wire::write_response(stream, 200, &headers, b"{}")?;
        Ok(true)
    })
}

/// Peak resident set size of a live process, in kB (`VmHWM` of `/proc/<pid>/status`).
fn peak_rss_kb(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| io::Error::other("no VmHWM in /proc/<pid>/status"))
}

fn spawn(binary: &Path, function: &Function, runtime: &Server, aws: &Server, log: &Path) -> io::Result<Child> {
    let aws_url = format!("http://{}", aws.addr());
    let log = std::fs::File::create(log)?;
    // A clean environment, as in Lambda: nothing from this shell (profiles, proxies) leaks in.
    Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime.addr().to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", function.name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", function.memory_mb.to_string())
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/fluxo-{}", function.name))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "coldstart")
        .env("AWS_SECRET_ACCESS_KEY", "coldstart")
        .env("AWS_SESSION_TOKEN", "coldstart")
        .env("AWS_ENDPOINT_URL", &aws_url)
        .env("FLUXO_BACKEND", "aws")
        .env("FLUXO_AUTH", "apigateway")
        .env("FLUXO_TABLE", "fluxo-ledger")
        .env("FLUXO_QUEUE_URL", format!("{aws_url}/123456789012/fluxo-entries"))
        .env("FLUXO_QUEUE_MAX_RECEIVES", "5")
        .env("FLUXO_RECONCILE_DAYS", "32")
        .env("FLUXO_RECONCILE_GRACE", "10m")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
}

fn run_once(bin_dir: &Path, events_dir: &Path, function: &Function) -> Result<Sample, String> {
    let event_path = events_dir.join(function.event);
    let event = std::fs::read(&event_path).map_err(|e| format!("{}: {e}", event_path.display()))?;
    let (signals, received) = mpsc::channel();
    let runtime = runtime_api(event, signals).map_err(|e| format!("runtime api: {e}"))?;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let aws = aws_stand_in(Arc::clone(&arrivals)).map_err(|e| format!("aws stand-in: {e}"))?;
    let log = std::env::temp_dir().join(format!("fluxo-coldstart-{}.log", function.name));
    let binary = bin_dir.join(function.name);

    let spawned = Instant::now();
    let mut child = spawn(&binary, function, &runtime, &aws, &log).map_err(|e| format!("{}: {e}", binary.display()))?;
    let outcome = watch(&mut child, spawned, &received);
    let _ = child.kill();
    let _ = child.wait();
    drop(runtime);
    drop(aws);

    let (ready_at, outcome_at, peak_rss_kb, error) = outcome.map_err(|e| {
        let stderr = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join("\n");
        format!("{e}; last stderr lines:\n{tail}")
    })?;
    let arrivals = arrivals.lock().map(|a| a.clone()).unwrap_or_default();
    Ok(Sample {
        ready: ready_at - spawned,
        first_response: outcome_at - spawned,
        peak_rss_kb,
        aws_before_ready: arrivals.iter().filter(|at| **at < ready_at).count(),
        aws_first_invocation: arrivals.iter().filter(|at| **at >= ready_at && **at <= outcome_at).count(),
        error,
    })
}

type Watched = (Instant, Instant, u64, Option<String>);

/// Follows one process from spawn to its second `next`, reading its peak RSS while it idles there.
fn watch(child: &mut Child, spawned: Instant, received: &mpsc::Receiver<Signal>) -> Result<Watched, String> {
    let (mut ready, mut outcome) = (None, None);
    loop {
        let left = RUN_TIMEOUT.checked_sub(spawned.elapsed()).ok_or("no second `next` within the run timeout")?;
        match received.recv_timeout(left.min(Duration::from_millis(50))) {
            Ok(Signal::Next { at, index: 0 }) => ready = Some(at),
            Ok(Signal::Next { .. }) => {
                let (Some(ready), Some((at, error))) = (ready, outcome.take()) else {
                    return Err("a second `next` before the first outcome".into());
                };
                let rss = peak_rss_kb(child.id()).map_err(|e| format!("peak RSS: {e}"))?;
                return Ok((ready, at, rss, error));
            }
            Ok(Signal::Outcome { at, error }) => outcome = Some((at, error)),
            Err(RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(format!("exited with {status} before its second `next`"));
                }
            }
            Err(RecvTimeoutError::Disconnected) => return Err("the runtime API stopped".into()),
        }
    }
}

/// Nearest-rank percentile of sorted values: the smallest value with at least `p` of them at or below.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn stats(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let mut sorted: Vec<f64> = values.collect();
    sorted.sort_by(f64::total_cmp);
    (percentile(&sorted, 0.5), percentile(&sorted, 0.95))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Args {
    runs: usize,
    bin_dir: PathBuf,
    events_dir: PathBuf,
}

fn args() -> Result<Args, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut parsed = Args { runs: 20, bin_dir: root.join("target/release"), events_dir: root.join("events") };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--runs" => parsed.runs = value.parse().ok().filter(|n| *n > 0).ok_or("--runs takes a positive number")?,
            "--bin-dir" => parsed.bin_dir = PathBuf::from(value),
            "--events" => parsed.events_dir = PathBuf::from(value),
            other => return Err(format!("unknown flag {other}; use --runs, --bin-dir, --events")),
        }
    }
    Ok(parsed)
}

fn main() -> Result<(), String> {
    let args = args()?;
    // Other work on the machine shows up in the p95 first: say how busy it was.
    let load = |when: &str| {
        let avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!("load average {when}: {}", avg.split(' ').take(3).collect::<Vec<_>>().join(" "));
    };
    println!(
        "cold start: {} runs per binary, interleaved, after one warm-up each; binaries from {} ({}, {} CPUs)",
        args.runs,
        args.bin_dir.display(),
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    load("before");
    for function in &FUNCTIONS {
        run_once(&args.bin_dir, &args.events_dir, function).map_err(|e| format!("{} warm-up: {e}", function.name))?;
    }
    let mut samples: Vec<Vec<Sample>> = FUNCTIONS.iter().map(|_| Vec::with_capacity(args.runs)).collect();
    for run in 0..args.runs {
        for (function, samples) in FUNCTIONS.iter().zip(&mut samples) {
            let sample = run_once(&args.bin_dir, &args.events_dir, function)
                .map_err(|e| format!("{} run {run}: {e}", function.name))?;
            samples.push(sample);
        }
    }

    load("after");
    println!();
    println!(
        "| binary | size MB | ready ms p50 | ready ms p95 | first response ms p50 | first response ms p95 | peak RSS MB p50 | peak RSS MB p95 | AWS requests before ready | AWS requests, first invocation | first outcome |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut verdicts = Vec::new();
    for (function, samples) in FUNCTIONS.iter().zip(&samples) {
        let size_mb = std::fs::metadata(args.bin_dir.join(function.name)).map_or(f64::NAN, |m| m.len() as f64 / 1e6);
        let (ready_p50, ready_p95) = stats(samples.iter().map(|s| ms(s.ready)));
        let (first_p50, first_p95) = stats(samples.iter().map(|s| ms(s.first_response)));
        let (rss_p50, rss_p95) = stats(samples.iter().map(|s| s.peak_rss_kb as f64 * 1024.0 / 1e6));
        let before = samples.iter().map(|s| s.aws_before_ready).max().unwrap_or_default();
        let during = samples.iter().map(|s| s.aws_first_invocation).max().unwrap_or_default();
        let errors = samples.iter().filter(|s| s.error.is_some()).count();
        let outcome = if errors == 0 { "response".to_owned() } else { format!("error in {errors} runs") };
        println!(
            "| {} | {size_mb:.1} | {ready_p50:.1} | {ready_p95:.1} | {first_p50:.1} | {first_p95:.1} | {rss_p50:.1} | {rss_p95:.1} | {before} | {during} | {outcome} |",
            function.name
        );
        if function.name != "hello" {
            let ready = if ready_p95 < READY_MS_TARGET { "met" } else { "MISSED" };
            let rss = if rss_p95 < RSS_MB_TARGET { "met" } else { "MISSED" };
            let aws = if before == 0 { "met" } else { "MISSED" };
            verdicts.push(format!(
                "{}: ready p95 {ready_p95:.1} ms < {READY_MS_TARGET} ms {ready}; peak RSS p95 {rss_p95:.1} MB < {RSS_MB_TARGET} MB {rss}; no AWS request before ready {aws}",
                function.name
            ));
        }
        if let Some(error) = samples.iter().find_map(|s| s.error.as_deref()) {
            verdicts.push(format!("{}: first invocation posted an error: {error}", function.name));
        }
    }
    println!();
    for verdict in verdicts {
        println!("{verdict}");
    }
    Ok(())
}
