//! The `consolidate` Lambda: settings, clients, metrics and handler, wired once per execution
//! environment.

use aws_lambda_events::sqs::SqsEvent;
use fluxo::config::{Settings, Wiring};
use fluxo::readiness::Connections;
use lambda_runtime::{Error, LambdaEvent};
use metrics_cloudwatch_embedded::lambda::handler::run;

#[tokio::main]
async fn main() -> Result<(), Error> {
    fluxo::logs::init_lambda();
    let metrics = fluxo::telemetry::emf("consolidate")?;
    let settings = Settings::from_env()?;
    let wiring = Wiring::open(&settings, None).await?;
    wiring.connect(&settings, Connections::Store).await;
    let ledger = wiring.ledger;
    let handler = |event: LambdaEvent<SqsEvent>| async {
        fluxo::handlers::consolidate::handle(&ledger, event.payload).await.map_err(Error::from)
    };
    run(metrics, handler).await
}
