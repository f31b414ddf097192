//! The `ingest` Lambda: settings, clients and handler, wired once per execution environment.

use fluxo::config::{Backends, Settings};
use lambda_http::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let settings = Settings::from_env()?;
    let api = Backends::open(&settings, None).await?.api(&settings)?;
    lambda_http::run(service_fn(|req| fluxo::handlers::ingest::handle(&api, req))).await
}
