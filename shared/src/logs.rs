//! The Lambda functions' logs: the subscriber Lambda's advanced logging controls configure
//! (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else INFO; `AWS_LAMBDA_LOG_FORMAT=JSON` for JSON lines),
//! with every crate but Fluxo's own held at INFO whatever those settings say. Below INFO the runtime
//! crates print raw events (bearer tokens, bodies, authorizer claims) and the SDK its signed
//! requests (session tokens): no deployment setting may turn that on.

use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// An error and each of its causes, `: `-separated: how an error goes into a log line or onto a
/// terminal, whatever its type.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// The targets that may log below INFO: this library and the functions' own binaries.
const OWN_TARGETS: [&str; 5] = ["fluxo", "ingest", "report", "consolidate", "relay"];

/// What the process environment asks for: the level, and whether lines are JSON.
pub struct LogSettings {
    pub level: Option<String>,
    pub json: bool,
}

impl LogSettings {
    pub fn from_env() -> Self {
        let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").or_else(|_| std::env::var("RUST_LOG")).ok();
        let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
        Self { level, json }
    }
}

/// Installs the functions' subscriber, writing to stdout as Lambda expects.
pub fn init_lambda() {
    subscriber(&LogSettings::from_env(), std::io::stdout).init();
}

/// The subscriber for `settings`, writing to `writer`.
pub fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let level = settings.level.as_deref().and_then(|l| l.parse::<LevelFilter>().ok()).unwrap_or(LevelFilter::INFO);
    let filter =
        EnvFilter::builder().with_default_directive(level.into()).parse_lossy(settings.level.as_deref().unwrap_or(""));
    let cap = OWN_TARGETS
        .iter()
        .fold(Targets::new().with_default(LevelFilter::INFO), |cap, own| cap.with_target(*own, LevelFilter::TRACE));
    let fmt = tracing_subscriber::fmt().with_target(false).without_time().with_env_filter(filter).with_writer(writer);
    if settings.json { Box::new(fmt.json().finish().with(cap)) } else { Box::new(fmt.finish().with(cap)) }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A writer into a shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn at_trace_the_runtime_crates_print_no_event_and_ours_print_everything() {
        for json in [true, false] {
            let buffer = Buffer::default();
            let settings = LogSettings { level: Some("trace".into()), json };
            tracing::subscriber::with_default(subscriber(&settings, buffer.clone()), || {
                tracing::trace!(target: "lambda_runtime::layers::trace", "event: Bearer eyJ.secret-token");
                tracing::debug!(target: "lambda_http::request", "body: {{\"amount\":1500}}");
                tracing::trace!(target: "aws_sigv4::http_request::sign", "x-amz-security-token: session-secret");
                tracing::info!(target: "lambda_runtime", "runtime ready");
                tracing::trace!(target: "fluxo::ledger", "our own detail");
            });
            let logged = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("UTF-8");
            for secret in ["secret-token", "amount", "session-secret"] {
                assert!(!logged.contains(secret), "{secret} logged at TRACE (json: {json}): {logged}");
            }
            assert!(logged.contains("runtime ready") && logged.contains("our own detail"), "{logged}");
        }
    }

    #[test]
    fn without_a_setting_our_own_debug_lines_stay_out() {
        let buffer = Buffer::default();
        tracing::subscriber::with_default(subscriber(&LogSettings { level: None, json: true }, buffer.clone()), || {
            tracing::debug!(target: "fluxo::ledger", "a debug detail");
            tracing::info!(target: "fluxo::ledger", "an info line");
        });
        let logged = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("UTF-8");
        assert!(!logged.contains("a debug detail") && logged.contains("an info line"), "{logged}");
    }
}
