//! The `relay` Lambda: settings, clients and handler, wired once per execution environment.

use aws_lambda_events::cloudwatch_events::CloudWatchEvent;
use fluxo::config::{Backends, Settings};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let ledger = Backends::open(&settings, None).await?.ledger;
    let handler =
        |_: LambdaEvent<CloudWatchEvent>| async { Ok::<_, Error>(fluxo::handlers::relay::handle(&ledger).await?) };
    lambda_runtime::run(service_fn(handler)).await
}
