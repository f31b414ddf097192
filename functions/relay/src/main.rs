//! The `relay` Lambda: settings, clients, metrics and handler, wired once per execution environment.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use fluxo::config::{Backends, Settings};
use lambda_runtime::{Error, LambdaEvent};
use metrics_cloudwatch_embedded::lambda::handler::run;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let metrics = fluxo::telemetry::emf("relay")?;
    let settings = Settings::from_env()?;
    let ledger = Backends::open(&settings, None).await?.ledger;
    let handler =
        |_: LambdaEvent<CloudWatchEvent>| async { Ok::<_, Error>(fluxo::handlers::relay::handle(&ledger).await?) };
    run(metrics, handler).await
}
