//! A fault-injecting HTTP proxy between the AWS SDK clients and the emulator: it answers DynamoDB
//! requests with throttling errors, or forwards a write and then holds its answer past the SDK's
//! attempt timeout (the write commits, its answer is lost). Everything else passes through.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// What the proxy does to the next DynamoDB requests; each counter is spent one request at a time.
#[derive(Default)]
pub struct Faults {
    /// Answer this many DynamoDB requests with `ThrottlingException`, forwarding nothing.
    pub throttle: AtomicU32,
    /// Forward this many writes (`PutItem`, `TransactWriteItems`), then hold each answer past the
    /// attempt timeout.
    pub stall_writes: AtomicU32,
    /// Cancel every `TransactWriteItems` whose body holds this text, as DynamoDB cancels a
    /// transaction that loses a race (`TransactionConflict`), forwarding nothing.
    pub conflict_on: std::sync::Mutex<Option<String>>,
    /// Refuse this many `BatchWriteItem` requests (the applied marks a consolidation round writes
    /// after its commit) with an error the SDK does not retry, forwarding nothing: as if the
    /// function had ended before writing them.
    pub refuse_batch_writes: AtomicU32,
    /// How many requests were throttled and how many answers were held, so far.
    pub throttled: AtomicU32,
    pub stalled: AtomicU32,
    pub refused: AtomicU32,
}

struct Proxy {
    upstream: String,
    client: reqwest::Client,
    faults: Arc<Faults>,
    stall: Duration,
}

/// Starts a proxy to `upstream` on a free loopback port; returns its URL and its fault switches.
/// Held answers are released after `stall`.
pub async fn start(upstream: &str, stall: Duration) -> (String, Arc<Faults>) {
    let faults = Arc::new(Faults::default());
    let proxy = Proxy { upstream: upstream.to_owned(), client: reqwest::Client::new(), faults: faults.clone(), stall };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let url = format!("http://{}", listener.local_addr().expect("proxy address"));
    let app = axum::Router::new().fallback(relay).with_state(Arc::new(proxy));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, faults)
}

/// Takes one from `counter` if it is above zero.
fn spend(counter: &AtomicU32) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

async fn relay(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let target = request.headers().get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let dynamodb = target.starts_with("DynamoDB_20120810.");
    if dynamodb && spend(&proxy.faults.throttle) {
        proxy.faults.throttled.fetch_add(1, Ordering::SeqCst);
        return throttling();
    }
    if target == "DynamoDB_20120810.BatchWriteItem" && spend(&proxy.faults.refuse_batch_writes) {
        proxy.faults.refused.fetch_add(1, Ordering::SeqCst);
        return refusal();
    }
    let transaction = target == "DynamoDB_20120810.TransactWriteItems";
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 64 << 20).await.expect("request body");
    if transaction && conflicts(&proxy.faults, &body) {
        return conflict();
    }
    let write = transaction || target == "DynamoDB_20120810.PutItem";
    let stall = write && spend(&proxy.faults.stall_writes);
    let response = forward(&proxy, parts, body).await;
    if stall {
        proxy.faults.stalled.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(proxy.stall).await;
    }
    response
}

fn conflicts(faults: &Faults, body: &[u8]) -> bool {
    let needle = faults.conflict_on.lock().expect("conflict lock").clone();
    needle.is_some_and(|n| String::from_utf8_lossy(body).contains(&n))
}

fn conflict() -> Response {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]","CancellationReasons":[{"Code":"TransactionConflict","Message":"Transaction is ongoing for the item"}]}"#;
    json_error(body)
}

fn refusal() -> Response {
    let body =
        r#"{"__type":"com.amazonaws.dynamodb.v20120810#ValidationException","message":"Refused by the fault proxy."}"#;
    json_error(body)
}

fn throttling() -> Response {
    let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#;
    json_error(body)
}

fn json_error(body: &'static str) -> Response {
    let mut response = (StatusCode::BAD_REQUEST, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-amz-json-1.0"));
    response
}

async fn forward(proxy: &Proxy, parts: axum::http::request::Parts, body: axum::body::Bytes) -> Response {
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers;
    headers.remove(header::HOST);
    let sent = proxy
        .client
        .request(parts.method, format!("{}{path}", proxy.upstream))
        .headers(headers)
        .body(body)
        .send()
        .await
        .expect("the emulator answers");
    let status = sent.status();
    let mut headers: HeaderMap = sent.headers().clone();
    headers.remove(header::TRANSFER_ENCODING);
    let bytes = sent.bytes().await.expect("the emulator's answer");
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
