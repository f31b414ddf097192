//! The `relay` Lambda: settings, clients, metrics and handler, wired once per execution environment.
//! Two triggers share it: the table's stream (new entries to the queue) and the reconciliation
//! schedule.

use aws_lambda_events::event::dynamodb::Event;
use fluxo::config::{Settings, Wiring};
use fluxo::readiness::Connections;
use lambda_runtime::{Error, LambdaEvent};
use metrics_cloudwatch_embedded::lambda::handler::run;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    fluxo::logs::init_lambda();
    let metrics = fluxo::telemetry::emf("relay")?;
    let settings = Settings::from_env()?;
    let wiring = Wiring::open(&settings, None).await?;
    wiring.connect(&settings, Connections::StoreAndQueue).await;
    let ledger = wiring.ledger;
    let handler = |event: LambdaEvent<Value>| async {
        // A stream batch carries `Records`; the schedule's EventBridge event does not.
        if event.payload.get("Records").is_some() {
            let records: Event = serde_json::from_value(event.payload)?;
            let response = fluxo::handlers::relay::handle_stream(&ledger, records).await;
            return Ok::<Value, Error>(serde_json::to_value(response)?);
        }
        Ok(serde_json::to_value(fluxo::handlers::relay::reconcile(&ledger).await?)?)
    };
    run(metrics, handler).await
}
