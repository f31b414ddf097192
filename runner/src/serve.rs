//! `fluxo serve`: the API, the consumer and the relay ticker in one process, with a graceful drain.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use fluxo::auth::{Scope, issue};
use fluxo::config::{RelaySource, Settings, Wiring};
use fluxo::domain::account::{AccountId, AccountName, Currency, Zone};
use fluxo::handlers::relay;
use fluxo::ledger::Ledger;
use jiff::SignedDuration;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::sync::watch;

use crate::error::CliError;
use crate::limit::{Limits, Rate};
use crate::status::{self, LastBatch, Status};
use crate::{ServeArgs, Switch, consumer, docs, proxy};

/// Starts the runtime and serves until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> Result<(), CliError> {
    init_logs();
    crate::runtime(tokio::runtime::Builder::new_multi_thread())?.block_on(serve_until_stopped(args))
}

/// The runner's metrics registry; `/metrics` renders it in Prometheus text format.
fn init_metrics() -> Result<PrometheusHandle, CliError> {
    metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder().map_err(CliError::Metrics)
}

fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLUXO_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().json().with_env_filter(filter).with_writer(std::io::stderr).init();
}

async fn serve_until_stopped(args: ServeArgs) -> Result<(), CliError> {
    let prometheus = init_metrics()?;
    let mut settings = Settings::from_env()?;
    settings.data_dir.clone_from(&args.data_dir);
    settings.backend = args.backend.into();
    let wiring = Wiring::open(&settings, None).await?;
    let api = wiring.api(&settings)?;
    let rate = Rate { per_minute: args.rate_per_min, burst: args.rate_burst };
    let limits = Arc::new(
        Limits::new(rate, api.auth.clone()).map_err(|e| CliError::Invalid(format!("rate limit policy: {e}")))?,
    );
    let listener =
        tokio::net::TcpListener::bind(args.addr).await.map_err(CliError::io(format!("listen on {}", args.addr)))?;
    let url = format!("http://{}", listener.local_addr().map_err(CliError::io("read the listening address"))?);
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut workers = Vec::new();
    let last = LastBatch::default();
    // The runner is the embedded queue's one consumer: what was in flight died with the last process.
    match wiring.inbox.release_in_flight().await {
        Ok(0) => {}
        Ok(released) => tracing::warn!(released, "messages a stopped consumer held are visible again"),
        Err(error) => tracing::warn!(error = %error.chain(), "could not release the messages in flight"),
    }
    if args.consolidation == Switch::On {
        let batching = consumer::Batching {
            size_max: args.batch_size.clamp(1, 10_000),
            window: Duration::try_from(args.batch_window).unwrap_or(Duration::ZERO),
        };
        let consume =
            consumer::run(wiring.inbox.clone(), wiring.ledger.clone(), batching, last.clone(), stop_rx.clone());
        workers.push(tokio::spawn(consume));
    } else {
        tracing::warn!("consolidation is off: entries are recorded and queued, balances do not move");
    }
    workers.push(tokio::spawn(relay_loop(
        wiring.ledger.clone(),
        wiring.relay.clone(),
        args.relay_tick,
        stop_rx.clone(),
    )));
    workers.push(tokio::spawn(reconcile_loop(wiring.ledger.clone(), args.reconcile_interval, stop_rx.clone())));
    workers.push(tokio::spawn(forget_idle_loop(limits.clone(), stop_rx)));
    // Listen for SIGTERM before announcing the address, so a signal right after it still drains.
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(CliError::io("listen for SIGTERM"))?;
    banner(&url, &args, &settings, &wiring.ledger).await?;
    let ops = Status { inbox: wiring.inbox.clone(), consolidation: args.consolidation == Switch::On, last };
    let ready = status::Ready { ledger: wiring.ledger.clone(), inbox: wiring.inbox.clone() };
    let app = router(proxy::Front { api, limits }, prometheus, ops, ready);
    axum::serve(listener, app).with_graceful_shutdown(shutdown(terminate)).await.map_err(CliError::io("serve"))?;
    tracing::info!("draining: finishing the batch in hand");
    let _ = stop_tx.send(true);
    for worker in workers {
        let _ = worker.await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// `/metrics`, `/status`, `/ready`, the status page at `/`, the contract at `/openapi.yaml` and
/// `/docs`; everything else goes to the functions.
fn router(front: proxy::Front, prometheus: PrometheusHandle, ops: Status, ready: status::Ready) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(move || std::future::ready(prometheus.render())))
        .route("/ready", axum::routing::get(status::ready).fallback(status::not_allowed).with_state(ready))
        .route("/openapi.yaml", axum::routing::get(docs::openapi).fallback(status::not_allowed))
        .route("/docs", axum::routing::get(docs::page).fallback(status::not_allowed))
        .route("/docs/redoc.standalone.js", axum::routing::get(docs::redoc).fallback(status::not_allowed))
        .route("/status", axum::routing::get(status::report).fallback(status::not_allowed).with_state(ops))
        .route("/", axum::routing::get(status::page).fallback(status::not_allowed))
        .fallback(proxy::dispatch)
        .with_state(front)
}

/// Drops the callers' buckets that are full again, once a minute, so memory follows the callers
/// active in the last minutes rather than every caller seen since start.
async fn forget_idle_loop(limits: Arc<Limits>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(Duration::from_secs(60));
    while !*stop.borrow() {
        tokio::select! {
            _ = interval.tick() => limits.forget_idle(),
            _ = stop.changed() => {}
        }
    }
}

/// Tails the outbox or the stream: passes `tick` apart (as the stream's event source mapping gathers
/// records for its batching window), back to back while they come full, a second apart after a
/// failure.
async fn relay_loop(ledger: Ledger, source: RelaySource, tick: SignedDuration, mut stop: watch::Receiver<bool>) {
    let idle = Duration::try_from(tick).ok().filter(|d| !d.is_zero()).unwrap_or(Duration::from_millis(50));
    let full = ledger.relay.batch_max;
    while !*stop.borrow() {
        let moved = match &source {
            RelaySource::Outbox(outbox) => relay::drain(&ledger, outbox.as_ref()).await.map(|r| r.published),
            RelaySource::Stream(stream) => relay::pump(&ledger, stream.as_ref()).await,
            RelaySource::Pushed => return,
        };
        let wait = match moved {
            Ok(n) if n >= full => continue,
            Ok(_) => idle,
            Err(error) => {
                tracing::warn!(error = %error.chain(), "relay pass failed");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Reconciles at start, then every `every`.
async fn reconcile_loop(ledger: Ledger, every: SignedDuration, mut stop: watch::Receiver<bool>) {
    let period = Duration::try_from(every).ok().filter(|d| !d.is_zero()).unwrap_or(Duration::from_secs(86_400));
    let mut interval = tokio::time::interval(period);
    while !*stop.borrow() {
        tokio::select! {
            _ = interval.tick() => {
                if let Err(error) = relay::reconcile(&ledger).await {
                    tracing::warn!(error = %error.chain(), "reconciliation pass failed");
                }
            }
            _ = stop.changed() => {}
        }
    }
}

/// Prints where the ledger listens and, with `--demo`, how to use it.
async fn banner(url: &str, args: &ServeArgs, settings: &Settings, ledger: &Ledger) -> Result<(), CliError> {
    let mut out = format!("fluxo listening on {url}\n");
    if args.demo {
        let token = demo(settings, ledger).await?;
        out.push_str(&format!(
            "\ndemo account: demo (BRL, America/Sao_Paulo)\n\
             token, valid 24h:\n  export TOKEN={token}\n\
             record an entry:\n  curl -s -X POST {url}/v1/accounts/demo/entries -H \"Authorization: Bearer $TOKEN\" \\\n    \
             -H 'Content-Type: application/json' -H \"Idempotency-Key: $(date +%s%N)\" -d '{{\"type\":\"credit\",\"amount\":1500,\"description\":\"coffee\"}}'\n\
             today's balance:\n  curl -s {url}/v1/accounts/demo/balances/daily/$(TZ=America/Sao_Paulo date +%F) -H \"Authorization: Bearer $TOKEN\"\n\
             more tokens: fluxo token --account demo --data-dir {}\n",
            settings.data_dir.display()
        ));
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush()).map_err(CliError::io("write to standard output"))
}

async fn demo(settings: &Settings, ledger: &Ledger) -> Result<String, CliError> {
    let parse = || -> Result<_, fluxo::domain::Invalid> {
        Ok((
            AccountId::parse("demo")?,
            AccountName::parse("Demo merchant")?,
            Currency::parse("BRL")?,
            Zone::parse("America/Sao_Paulo")?,
        ))
    };
    let (id, name, currency, zone) = parse().map_err(|e| CliError::Invalid(format!("the demo account: {e}")))?;
    if ledger.account(&id).await.is_err() {
        ledger.put_account(id, name, currency, zone).await?;
    }
    let secret = settings.jwt_secret()?;
    issue(
        &secret,
        &settings.token_binding,
        "demo",
        &["demo".to_owned()],
        &[Scope::Read, Scope::Write],
        SignedDuration::from_hours(24),
    )
    .map_err(CliError::Token)
}

async fn shutdown(mut terminate: tokio::signal::unix::Signal) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutdown requested");
}
