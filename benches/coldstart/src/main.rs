//! Cold start of each function binary under a loopback Lambda Runtime API emulator.
//!
//! For every run the emulator starts a fresh Runtime API server and a fresh stand-in AWS endpoint
//! that speaks TLS (see `tls.rs`), spawns the binary with the Lambda environment
//! (`AWS_LAMBDA_RUNTIME_API` and the function variables, dummy credentials, `AWS_ENDPOINT_URL` at
//! `https://localhost:{port}`, `SSL_CERT_FILE` at the platform's roots plus the stand-in's CA, and
//! the `FLUXO_*` settings `infra/functions.tf` gives the functions), hands it one sample event from
//! `events/`, and records:
//!
//! - **ready**: spawn to its first `GET /runtime/invocation/next`, i.e. the end of init;
//! - **first response**: spawn to the `POST .../response` (or `.../error`) of that first invocation;
//! - **first invocation**: ready to that response, what the first caller waits for beyond init;
//! - **peak RSS**: `VmHWM` from `/proc/<pid>/status`, read once it asks for its second event;
//! - **AWS requests** the stand-in received before `ready` (the connections the function opens at
//!   init, none when `FLUXO_CONNECT_AT_INIT=off`) and during the first invocation.
//!
//! Each function runs both ways: opening its connections at init, as deployed, and with
//! `FLUXO_CONNECT_AT_INIT=off`, where its first invocation opens them.
//!
//! The stand-in AWS endpoint answers every request `200 {}`: an empty DynamoDB result (no item, no
//! query rows), an SQS batch with no failures, so a first invocation runs its real SDK path
//! (credentials, signing, DNS, TCP, TLS, retry wrapper) without any emulator's own latency. The
//! functions then answer as on an empty table: ingest and report 404 for the unknown account,
//! consolidate reports its postings failed, relay publishes the stream batch's new entry.
//!
//! Runs are interleaved (run 1 of every binary, then run 2, ...) so that load from anything else on
//! the machine spreads over all binaries alike, after one discarded warm-up run each so every binary
//! starts from the page cache. Usage:
//!
//! ```sh
//! cargo run --release -p fluxo-coldstart -- [--runs 20] [--bin-dir target/release] [--events events]
//! ```

mod tls;
mod wire;

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wire::{Conn, Request, Server};

/// How long one run may take before it counts as hung.
const RUN_TIMEOUT: Duration = Duration::from_secs(10);

/// Targets from the performance brief.
const READY_MS_TARGET: f64 = 15.0;
const RSS_MB_TARGET: f64 = 20.0;

/// A binary under test: its file in the bin dir, its memory setting, its first event, the
/// connections it opens at init, and whether it opens them in this case.
struct Function {
    name: &'static str,
    memory_mb: u32,
    event: &'static str,
    connections: usize,
    connect_at_init: bool,
}

impl Function {
    const fn new(name: &'static str, memory_mb: u32, event: &'static str, connections: usize) -> Self {
        Self { name, memory_mb, event, connections, connect_at_init: true }
    }

    const fn without_connecting(self) -> Self {
        Self { connect_at_init: false, ..self }
    }

    fn label(&self) -> String {
        match (self.connections, self.connect_at_init) {
            (0, _) | (_, true) => self.name.to_owned(),
            (_, false) => format!("{}, connect at init off", self.name),
        }
    }

    /// AWS requests before ready: one per connection opened at init.
    fn requests_at_init(&self) -> usize {
        if self.connect_at_init { self.connections } else { 0 }
    }
}

/// Memory sizes are the defaults of `infra/variables.tf`; the floor gets Lambda's smallest. Relay
/// gets a stream batch, the trigger every entry goes through.
const FUNCTIONS: [Function; 9] = [
    Function::new("hello", 128, "scheduled/relay.json", 0),
    Function::new("ingest", 256, "apigw-rest/post-entry.json", 1),
    Function::new("ingest", 256, "apigw-rest/post-entry.json", 1).without_connecting(),
    Function::new("report", 256, "apigw-rest/daily-balance.json", 1),
    Function::new("report", 256, "apigw-rest/daily-balance.json", 1).without_connecting(),
    Function::new("consolidate", 512, "sqs/batch.json", 1),
    Function::new("consolidate", 512, "sqs/batch.json", 1).without_connecting(),
    Function::new("relay", 256, "dynamodb/stream.json", 2),
    Function::new("relay", 256, "dynamodb/stream.json", 2).without_connecting(),
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
    Server::start(move |request: Request, stream: &mut dyn Conn| {
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
fn aws_stand_in(tls: Arc<rustls::ServerConfig>, arrivals: Arc<Mutex<Vec<Instant>>>) -> io::Result<Server> {
    Server::start_tls(tls, move |_request: Request, stream: &mut dyn Conn| {
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

/// What every run of every binary shares: where the binaries and events are, and the TLS setup.
struct Bench {
    bin_dir: PathBuf,
    events_dir: PathBuf,
    tls: tls::Tls,
}

fn spawn(bench: &Bench, function: &Function, runtime: &Server, aws: &Server, log: &Path) -> io::Result<Child> {
    let aws_url = format!("https://{}:{}", tls::HOST, aws.addr().port());
    let binary = bench.bin_dir.join(function.name);
    let connect = if function.connect_at_init { "on" } else { "off" };
    let log = std::fs::File::create(log)?;
    // A clean environment, as in Lambda: nothing from this shell (profiles, proxies) leaks in.
    Command::new(binary)
        .env_clear()
        .env("SSL_CERT_FILE", &bench.tls.bundle)
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
        .env("FLUXO_CONNECT_AT_INIT", connect)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
}

fn run_once(bench: &Bench, function: &Function) -> Result<Sample, String> {
    let event_path = bench.events_dir.join(function.event);
    let event = std::fs::read(&event_path).map_err(|e| format!("{}: {e}", event_path.display()))?;
    let (signals, received) = mpsc::channel();
    let runtime = runtime_api(event, signals).map_err(|e| format!("runtime api: {e}"))?;
    let arrivals = Arc::new(Mutex::new(Vec::new()));
    let aws =
        aws_stand_in(Arc::clone(&bench.tls.server), Arc::clone(&arrivals)).map_err(|e| format!("aws stand-in: {e}"))?;
    let log = std::env::temp_dir().join(format!("fluxo-coldstart-{}.log", function.name));

    let spawned = Instant::now();
    let mut child = spawn(bench, function, &runtime, &aws, &log)
        .map_err(|e| format!("{}: {e}", bench.bin_dir.join(function.name).display()))?;
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
    let tls = tls::prepare(&std::env::temp_dir())?;
    let bench = Bench { bin_dir: args.bin_dir, events_dir: args.events_dir, tls };
    // Other work on the machine shows up in the p95 first: say how busy it was.
    let load = |when: &str| {
        let avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!("load average {when}: {}", avg.split(' ').take(3).collect::<Vec<_>>().join(" "));
    };
    println!(
        "cold start: {} runs per binary, interleaved, after one warm-up each; binaries from {} ({}, {} CPUs); \
         AWS stand-in over TLS, trust store of {} platform roots and its CA",
        args.runs,
        bench.bin_dir.display(),
        std::env::consts::ARCH,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        bench.tls.platform_roots,
    );
    load("before");
    for function in &FUNCTIONS {
        run_once(&bench, function).map_err(|e| format!("{} warm-up: {e}", function.label()))?;
    }
    let mut samples: Vec<Vec<Sample>> = FUNCTIONS.iter().map(|_| Vec::with_capacity(args.runs)).collect();
    for run in 0..args.runs {
        for (function, samples) in FUNCTIONS.iter().zip(&mut samples) {
            let sample = run_once(&bench, function).map_err(|e| format!("{} run {run}: {e}", function.label()))?;
            samples.push(sample);
        }
    }
    load("after");
    report(&bench, &samples);
    Ok(())
}

/// The table of figures, then each target's verdict and what opening connections at init saved.
fn report(bench: &Bench, samples: &[Vec<Sample>]) {
    println!();
    println!(
        "| binary | size MB | ready ms p50 | ready ms p95 | first response ms p50 | first response ms p95 | first invocation ms p50 | first invocation ms p95 | peak RSS MB p50 | peak RSS MB p95 | AWS requests before ready | AWS requests, first invocation | first outcome |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    let mut verdicts = Vec::new();
    let mut invocation_p50 = Vec::new();
    for (function, samples) in FUNCTIONS.iter().zip(samples) {
        let size_mb = std::fs::metadata(bench.bin_dir.join(function.name)).map_or(f64::NAN, |m| m.len() as f64 / 1e6);
        let (ready_p50, ready_p95) = stats(samples.iter().map(|s| ms(s.ready)));
        let (first_p50, first_p95) = stats(samples.iter().map(|s| ms(s.first_response)));
        let (invoke_p50, invoke_p95) = stats(samples.iter().map(|s| ms(s.first_response - s.ready)));
        let (rss_p50, rss_p95) = stats(samples.iter().map(|s| s.peak_rss_kb as f64 * 1024.0 / 1e6));
        let before = samples.iter().map(|s| s.aws_before_ready).max().unwrap_or_default();
        let during = samples.iter().map(|s| s.aws_first_invocation).max().unwrap_or_default();
        let errors = samples.iter().filter(|s| s.error.is_some()).count();
        let outcome = if errors == 0 { "response".to_owned() } else { format!("error in {errors} runs") };
        println!(
            "| {} | {size_mb:.1} | {ready_p50:.1} | {ready_p95:.1} | {first_p50:.1} | {first_p95:.1} | {invoke_p50:.1} | {invoke_p95:.1} | {rss_p50:.1} | {rss_p95:.1} | {before} | {during} | {outcome} |",
            function.label()
        );
        invocation_p50.push((function, invoke_p50));
        if function.connections > 0 {
            let ready = if ready_p95 < READY_MS_TARGET { "met" } else { "MISSED" };
            let rss = if rss_p95 < RSS_MB_TARGET { "met" } else { "MISSED" };
            let expected = function.requests_at_init();
            let aws = if before == expected { "as expected" } else { "UNEXPECTED" };
            verdicts.push(format!(
                "{}: ready p95 {ready_p95:.1} ms < {READY_MS_TARGET} ms {ready}; peak RSS p95 {rss_p95:.1} MB < {RSS_MB_TARGET} MB {rss}; {before} AWS requests before ready, {expected} expected: {aws}",
                function.label()
            ));
        }
        if let Some(error) = samples.iter().find_map(|s| s.error.as_deref()) {
            verdicts.push(format!("{}: first invocation posted an error: {error}", function.label()));
        }
    }
    println!();
    for verdict in verdicts {
        println!("{verdict}");
    }
    for (on, on_p50) in invocation_p50.iter().filter(|(f, _)| f.connections > 0 && f.connect_at_init) {
        if let Some((_, off_p50)) = invocation_p50.iter().find(|(f, _)| f.name == on.name && !f.connect_at_init) {
            println!(
                "{}: first invocation p50 {on_p50:.1} ms with connections opened at init, {off_p50:.1} ms without ({:.1}x)",
                on.name,
                off_p50 / on_p50
            );
        }
    }
}
