//! The `ingest` Lambda: settings, clients, metrics and handler, wired once per execution environment.

use fluxo::config::{Backends, Settings};
use fluxo::readiness::Connections;
use lambda_http::Error;
use metrics_cloudwatch_embedded::lambda::handler::run_http;

#[tokio::main]
async fn main() -> Result<(), Error> {
    fluxo::logs::init_lambda();
    let metrics = fluxo::telemetry::emf("ingest")?;
    let settings = Settings::from_env()?;
    let backends = Backends::open(&settings, None).await?;
    backends.connect(&settings, Connections::Store).await;
    let api = backends.api(&settings)?;
    run_http(metrics, |req| async { Ok::<_, Error>(fluxo::handlers::ingest::respond(&api, req).await) }).await
}
