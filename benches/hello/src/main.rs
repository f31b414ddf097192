//! The cold-start floor: the smallest Lambda on `lambda_runtime`, echoing its event. It initialises
//! the runtime's default tracing subscriber as every Fluxo function does, so the difference between
//! its figures and a function's is what that function adds at init (settings, clients, metrics).

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move { Ok::<Value, Error>(event.payload) })).await
}
