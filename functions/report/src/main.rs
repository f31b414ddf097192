//! The `report` Lambda: settings, clients, metrics and handler, wired once per execution environment.

use fluxo::config::{Settings, Wiring};
use fluxo::readiness::Connections;
use lambda_http::Error;
use metrics_cloudwatch_embedded::lambda::handler::run_http;

#[tokio::main]
async fn main() -> Result<(), Error> {
    fluxo::logs::init_lambda();
    let metrics = fluxo::telemetry::emf("report")?;
    let settings = Settings::from_env()?;
    let wiring = Wiring::open(&settings, None).await?;
    wiring.connect(&settings, Connections::Store).await;
    let api = wiring.api(&settings)?;
    run_http(metrics, |req| async { Ok::<_, Error>(fluxo::handlers::report::handle(&api, req).await) }).await
}
