//! A DynamoDB and SQS emulator (moto) for this test process, started on first use on a port the
//! kernel picks, and AWS clients pointed at it. The conformance suites, the fault injection and the
//! black-box tests against `fluxo serve --backend aws` all use it.

use aws_sdk_dynamodb::config::Credentials;
use fluxo::adapters::aws::{Clients, RequestCounter};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A moto server for this test process. It runs under a shell that kills it when the test process
/// exits (its stdin closes), so no emulator outlives the tests.
struct Moto {
    url: String,
    _shell: Mutex<Child>,
}

static MOTO: OnceLock<Option<Moto>> = OnceLock::new();

/// The project's Python, with moto installed by `make venv`.
fn python() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python3")
}

/// moto's server with DynamoDB operations made atomic, as they are in DynamoDB (see the script).
fn launcher() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("moto_server.py")
}

fn start() -> Option<Moto> {
    let binary = python();
    if !binary.exists() || !binary.with_file_name("moto_server").exists() {
        let why = format!("moto is missing from {}: run `make venv`", binary.display());
        assert!(std::env::var("CI").as_deref() != Ok("true"), "the emulator is required under CI=true: {why}");
        eprintln!("skipping emulator tests: {why}");
        return None;
    }
    // The emulator binds a port the kernel picks and names it in `port_file`: a port picked here and
    // bound there could be taken in between by another test process's emulator, which would then
    // serve these tests until its own process exits.
    let port_file = std::env::temp_dir().join(format!("fluxo-moto-{}.port", std::process::id()));
    let script = format!(
        "\"{}\" \"{}\" -H 127.0.0.1 -p 0 --port-file \"{}\" >/dev/null 2>&1 & m=$!; cat >/dev/null; kill $m",
        binary.display(),
        launcher().display(),
        port_file.display()
    );
    let shell = Command::new("sh").arg("-c").arg(script).stdin(Stdio::piped()).spawn().expect("start moto_server");
    let deadline = Instant::now() + Duration::from_secs(60);
    let port = loop {
        if let Some(port) = std::fs::read_to_string(&port_file).ok().and_then(|p| p.trim().parse::<u16>().ok()) {
            break port;
        }
        assert!(Instant::now() < deadline, "moto_server named no port in 60 s in {}", port_file.display());
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = std::fs::remove_file(&port_file);
    let url = format!("http://127.0.0.1:{port}");
    Some(Moto { url, _shell: Mutex::new(shell) })
}

/// The emulator's URL, starting it on first use; `None` when it is not installed outside CI.
pub fn moto_url() -> Option<String> {
    MOTO.get_or_init(start).as_ref().map(|m| m.url.clone())
}

/// Clients for the emulator, counting requests with `counter`.
pub fn clients(url: &str, counter: Option<&RequestCounter>) -> Clients {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(Credentials::new(
            "test",
            "test",
            None,
            None,
            "fluxo-tests",
        )))
        .build();
    Clients::new(&config, counter)
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}
