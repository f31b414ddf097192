//! The `consolidate` Lambda: settings, clients, metrics and handler, wired once per execution
//! environment.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use fluxo::config::{Backends, Settings};
use fluxo::readiness::Connections;
use lambda_runtime::{Error, LambdaEvent};
use metrics_cloudwatch_embedded::lambda::handler::run;

#[tokio::main]
async fn main() -> Result<(), Error> {
    fluxo::logs::init_lambda();
    let metrics = fluxo::telemetry::emf("consolidate")?;
    let settings = Settings::from_env()?;
    let backends = Backends::open(&settings, None).await?;
    backends.connect(&settings, Connections::Store).await;
    let ledger = backends.ledger;
    let handler = |event: LambdaEvent<SqsEvent>| async {
        Ok::<SqsBatchResponse, Error>(fluxo::handlers::consolidate::handle(&ledger, event.payload).await)
    };
    run(metrics, handler).await
}
