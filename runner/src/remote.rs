//! The v1 API as `fluxo import` and `fluxo export` call it: a base URL and a bearer token, over
//! HTTP locally or HTTPS to API Gateway. Waits out 429s and retries 5xx and lost connections with
//! backoff, a bounded number of times; any other refusal ends the command with its problem's detail.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::error::CliError;

/// Attempts of one request before the command gives up on a server that keeps failing.
const ATTEMPTS_MAX: u32 = 8;
/// The first pause between attempts; each later one doubles, up to [`BACKOFF_MAX`].
const BACKOFF_FIRST: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Where the API is and who calls it.
#[derive(Debug, Clone, clap::Args)]
pub struct Endpoint {
    /// The API's base URL: `fluxo serve`'s address, or the stage's URL in AWS.
    #[arg(long, env = "FLUXO_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// A bearer token granting the account (`fluxo token`, or Cognito's in AWS).
    #[arg(long, env = "FLUXO_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// An HTTP client for one endpoint.
pub struct ApiClient {
    http: reqwest::Client,
    endpoint: Endpoint,
}

impl ApiClient {
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots on this machine).
    pub fn new(endpoint: Endpoint) -> Result<Self, CliError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::Api(format!("cannot build an HTTP client: {e}")))?;
        let url = endpoint.url.trim_end_matches('/').to_owned();
        Ok(Self { http, endpoint: Endpoint { url, ..endpoint } })
    }

    /// Sends `method path` with `body` (JSON text) until the API answers something other than 429
    /// or 5xx, and returns the answer's status and JSON body.
    ///
    /// # Errors
    /// The API could not be reached or kept failing after [`ATTEMPTS_MAX`] attempts; it answered
    /// something that is not JSON.
    pub async fn call(&self, method: Method, path: &str, body: Option<&str>) -> Result<(StatusCode, Value), CliError> {
        let mut pause = BACKOFF_FIRST;
        let mut last = String::new();
        for _ in 0..ATTEMPTS_MAX {
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.endpoint.url))
                .bearer_auth(&self.endpoint.token);
            if let Some(body) = body {
                request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_owned());
            }
            match request.send().await {
                Ok(response) if response.status() == StatusCode::TOO_MANY_REQUESTS => {
                    // The limit says when a token is back; waiting that long is not a failure.
                    tokio::time::sleep(retry_after(&response).unwrap_or(pause)).await;
                    continue;
                }
                Ok(response) if response.status().is_server_error() => {
                    last = format!("{} answered {}", self.endpoint.url, response.status());
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.map_err(|e| CliError::Api(format!("reading the answer: {e}")))?;
                    let json = serde_json::from_str(&text).map_err(|_| {
                        CliError::Api(format!("{} answered {status} with a body that is not JSON", self.endpoint.url))
                    })?;
                    return Ok((status, json));
                }
                Err(e) => last = format!("cannot reach {}: {e}", self.endpoint.url),
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(BACKOFF_MAX);
        }
        Err(CliError::Api(format!("{last} ({ATTEMPTS_MAX} attempts)")))
    }
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let seconds: u64 = response.headers().get("retry-after")?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds.clamp(1, 60)))
}

/// The detail of a problem+json body, or the status alone.
pub fn refusal(status: StatusCode, problem: &Value) -> String {
    match problem["detail"].as_str() {
        Some(detail) => format!("{status}: {detail}"),
        None => status.to_string(),
    }
}
