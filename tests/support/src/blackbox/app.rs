//! The runner as a child process: `fluxo serve` on port 0 over a temporary data directory that
//! outlives kills and restarts, with a secret of its own to sign test tokens.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use std::sync::Arc;

use fluxo::adapters::aws::SqsQueue;
use fluxo::adapters::embedded::{EmbeddedQueue, QueueSettings};
use fluxo::auth::{Scope, TokenBinding, issue};
use fluxo::ports::Inbox;
use jiff::SignedDuration;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use super::client::Merchant;

/// How long the runner may take to print its address.
const STARTUP_MAX: Duration = Duration::from_secs(15);
/// How long a signalled runner may take to exit.
const EXIT_MAX: Duration = Duration::from_secs(10);
/// How long one HTTP request may take before the test gives up on it.
const REQUEST_MAX: Duration = Duration::from_secs(10);
/// The line the runner prints first on stdout, before its URL.
const BANNER: &str = "fluxo listening on ";

/// Environment variables for one start of the runner.
#[derive(Debug, Clone, Default)]
pub struct Config {
    vars: Vec<(&'static str, String)>,
}

impl Config {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets one `FLUXO_*` variable, e.g. `var("FLUXO_RELAY_TICK", "100ms")`.
    pub fn var(mut self, name: &'static str, value: &str) -> Self {
        self.vars.push((name, value.to_owned()));
        self
    }

    /// Serves as if the consolidate function were down.
    pub fn consolidation_off(self) -> Self {
        self.var("FLUXO_CONSOLIDATION", "off")
    }
}

/// The store the runner serves from: the embedded one, or DynamoDB and SQS on the emulator when the
/// test process runs with `FLUXO_TEST_BACKEND=aws` (the Makefile runs this suite both ways).
#[derive(Debug, Clone)]
enum Backend {
    Embedded,
    Aws { endpoint: String, table: String, queue: String },
}

impl Backend {
    /// The backend for this test process; for AWS, a fresh table and queue made by `fluxo init`.
    async fn choose() -> Self {
        if std::env::var("FLUXO_TEST_BACKEND").as_deref() != Ok("aws") {
            return Self::Embedded;
        }
        let endpoint = crate::emulator::moto_url().expect("FLUXO_TEST_BACKEND=aws needs the emulator: run `make venv`");
        let backend =
            Self::Aws { endpoint, table: crate::emulator::unique("ledger"), queue: crate::emulator::unique("entries") };
        let mut init = Command::new(fluxo_binary());
        init.arg("init").stdout(Stdio::null());
        backend.apply(&mut init);
        let status = init.status().await.expect("fluxo init runs");
        assert!(status.success(), "fluxo init failed: {status}");
        backend
    }

    /// Points a runner command at this backend.
    fn apply(&self, cmd: &mut Command) {
        if let Self::Aws { endpoint, table, queue } = self {
            cmd.env("FLUXO_BACKEND", "aws").env("AWS_ENDPOINT_URL", endpoint).env("AWS_REGION", "us-east-1");
            cmd.env("AWS_ACCESS_KEY_ID", "test").env("AWS_SECRET_ACCESS_KEY", "test");
            cmd.env("FLUXO_TABLE", table).env("FLUXO_QUEUE_NAME", queue);
            // A consumer killed mid-batch hides its messages this long; keep restarts quick.
            cmd.env("FLUXO_QUEUE_VISIBILITY", "2s");
        }
    }
}

/// A running `fluxo serve` and what a test needs to talk to it.
pub struct TestApp {
    /// The base URL, e.g. `http://127.0.0.1:41234`.
    pub address: String,
    pub http: reqwest::Client,
    secret: String,
    root: TempDir,
    backend: Backend,
    child: Child,
    // Held so the runner never writes to a closed pipe.
    _stdout: Lines<BufReader<ChildStdout>>,
}

/// Starts the runner with its defaults.
pub async fn spawn_app() -> TestApp {
    spawn_with(Config::new()).await
}

/// Starts the runner with `config` on a fresh data directory and a fresh secret.
pub async fn spawn_with(config: Config) -> TestApp {
    let root = tempfile::tempdir().expect("a temporary directory for the runner");
    start(root, super::random_hex(32), Backend::choose().await, &config).await
}

async fn start(root: TempDir, secret: String, backend: Backend, config: &Config) -> TestApp {
    let mut command = command(root.path(), &secret, config);
    backend.apply(&mut command);
    let mut child = command.spawn().expect("the fluxo binary starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = BufReader::new(stdout).lines();
    let first = tokio::time::timeout(STARTUP_MAX, lines.next_line()).await;
    let address = match first {
        Ok(Ok(Some(line))) => line.strip_prefix(BANNER).map(str::to_owned),
        _ => None,
    };
    let Some(address) = address else {
        panic!("fluxo did not print its address; its log:\n{}", log_tail(root.path()));
    };
    let http = reqwest::Client::builder().no_proxy().timeout(REQUEST_MAX).build().expect("an HTTP client");
    TestApp { address, http, secret, root, backend, child, _stdout: lines }
}

fn command(root: &Path, secret: &str, config: &Config) -> Command {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("server.log"))
        .expect("a log file for the runner");
    let mut cmd = Command::new(fluxo_binary());
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data-dir"]).arg(root.join("data"));
    // The developer's own FLUXO_* settings must not leak into a test.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("FLUXO_")) {
        cmd.env_remove(name);
    }
    cmd.env("FLUXO_JWT_SECRET", secret);
    for (name, value) in &config.vars {
        cmd.env(name, value);
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::from(log)).kill_on_drop(true);
    cmd
}

fn log_tail(root: &Path) -> String {
    let log = std::fs::read_to_string(root.join("server.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

impl TestApp {
    /// The URL of `path`, which starts with `/`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Everything the runner has logged so far (JSON lines from its stderr).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.root.path().join("server.log")).unwrap_or_default()
    }

    /// The secret the runner signs and verifies tokens with.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The directory holding the runner's store and queue.
    pub fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// The runner's queue, opened beside it, to observe what waits for consolidation.
    pub async fn queue(&self) -> Arc<dyn Inbox> {
        match &self.backend {
            Backend::Embedded => Arc::new(
                EmbeddedQueue::open(&self.data_dir(), QueueSettings::default()).expect("the runner's queue opens"),
            ),
            Backend::Aws { endpoint, queue, .. } => {
                let clients = crate::emulator::clients(endpoint, None);
                let url = clients.sqs.get_queue_url().queue_name(queue).send().await.expect("the queue exists");
                Arc::new(SqsQueue::new(clients.sqs.clone(), url.queue_url.unwrap_or_default(), None))
            }
        }
    }

    /// A token signed with this runner's secret.
    pub fn token(&self, accounts: &[&str], scopes: &[Scope], ttl: SignedDuration) -> String {
        let accounts: Vec<String> = accounts.iter().map(|a| (*a).to_owned()).collect();
        issue(self.secret.as_bytes(), &TokenBinding::default(), "tester", &accounts, scopes, ttl)
            .expect("signing a test token")
    }

    /// A merchant allowed to read and write `account`, for an hour.
    pub fn merchant(&self, account: &str) -> Merchant {
        let token = self.token(&[account], &[Scope::Read, Scope::Write], SignedDuration::from_hours(1));
        Merchant::new(self.http.clone(), &self.address, token, account)
    }

    /// `kill -9`: the runner gets no chance to finish anything.
    pub async fn kill(&mut self) {
        // An error only means the process is gone already, which is what was asked.
        let _ = self.child.start_kill();
        let waited = tokio::time::timeout(EXIT_MAX, self.child.wait()).await;
        assert!(matches!(waited, Ok(Ok(_))), "the killed runner was not reaped");
    }

    /// `kill -TERM`, then waits (bounded) for the exit status.
    pub async fn terminate(&mut self) -> ExitStatus {
        let pid = self.child.id().expect("the runner is still running");
        let sent =
            Command::new("kill").args(["-TERM", &pid.to_string()]).status().await.expect("the kill command runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
        match tokio::time::timeout(EXIT_MAX, self.child.wait()).await {
            Ok(status) => status.expect("waiting for the runner"),
            Err(_) => panic!("the runner did not exit within {EXIT_MAX:?} of SIGTERM"),
        }
    }

    /// Kills the runner if it still runs, then starts it again on the same data directory and
    /// secret with `config`. The port changes: make merchants again from the returned app.
    pub async fn restart(mut self, config: &Config) -> TestApp {
        self.kill().await;
        let TestApp { root, secret, backend, .. } = self;
        start(root, secret, backend, config).await
    }
}

/// Messages waiting or in flight on a runner's queue.
pub async fn queued(queue: &Arc<dyn Inbox>) -> i64 {
    let depths = queue.depths().await.expect("the queue database answers");
    depths.visible + depths.in_flight
}

/// The `fluxo` binary cargo built beside the test binary: `NEXTEST_BIN_EXE_fluxo` under nextest,
/// else `target/<profile>/fluxo`, one directory above the test binary's `deps/`, where cargo puts
/// the runner's binary for its integration tests.
pub fn fluxo_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NEXTEST_BIN_EXE_fluxo") {
        return PathBuf::from(path);
    }
    let test = std::env::current_exe().expect("the test binary's path");
    let profile = test.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let binary = profile.join("fluxo");
    assert!(binary.exists(), "{} is missing: build fluxo-runner first", binary.display());
    binary
}
