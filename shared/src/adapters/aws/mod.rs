//! The AWS backend: DynamoDB for the ledger store, SQS for the queue. Clients are built once per
//! execution environment from the standard AWS environment (`AWS_REGION`, credentials, and
//! `AWS_ENDPOINT_URL` for emulators) and shared by every invocation.

mod audit;
mod counter;
mod dynamo;
mod errors;
pub mod item;
mod provision;
mod round;
mod sqs;
pub mod stream;

pub use counter::RequestCounter;
pub use dynamo::DynamoStore;
pub use provision::{QueueUrls, ensure_queues, ensure_table};
pub use sqs::SqsQueue;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

/// How many times one call is attempted: throttling and transient failures are retried with jittered
/// exponential backoff, so a short throttling burst costs latency, not an error.
pub const ATTEMPTS_MAX: u32 = 4;
/// One attempt's bound. DynamoDB and SQS answer in milliseconds; an attempt this slow is retried.
/// Every write is safe to repeat: `TransactWriteItems` carries an idempotency token the SDK keeps
/// across attempts, and conditions and applied marks make a repeated write meet its first one.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);
/// The bound of one call with all its retries, well inside the HTTP functions' 10 s timeout.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(8);

/// The SDK clients, built from one shared configuration, optionally counting their requests.
#[derive(Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// DynamoDB Streams, for the runner's stand-in of the stream's event source mapping.
    #[cfg(feature = "runner")]
    pub streams: aws_sdk_dynamodbstreams::Client,
}

impl Clients {
    /// Builds both clients from `config` with Fluxo's retry and timeout bounds, attaching `counter`
    /// when given.
    pub fn new(config: &aws_config::SdkConfig, counter: Option<&RequestCounter>) -> Self {
        let retry = RetryConfig::standard()
            .with_max_attempts(ATTEMPTS_MAX)
            .with_initial_backoff(Duration::from_millis(20))
            .with_max_backoff(Duration::from_millis(500));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(1))
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .operation_timeout(CALL_TIMEOUT)
            .build();
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(config)
            .retry_config(retry.clone())
            .timeout_config(timeouts.clone());
        let mut sqs =
            aws_sdk_sqs::config::Builder::from(config).retry_config(retry.clone()).timeout_config(timeouts.clone());
        #[cfg(feature = "runner")]
        let mut streams =
            aws_sdk_dynamodbstreams::config::Builder::from(config).retry_config(retry).timeout_config(timeouts);
        if let Some(counter) = counter {
            dynamodb = dynamodb.interceptor(counter.clone());
            sqs = sqs.interceptor(counter.clone());
            #[cfg(feature = "runner")]
            {
                streams = streams.interceptor(counter.clone());
            }
        }
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
            #[cfg(feature = "runner")]
            streams: aws_sdk_dynamodbstreams::Client::from_conf(streams.build()),
        }
    }

    /// Loads the standard AWS configuration from the environment and builds the clients.
    pub async fn from_env(counter: Option<&RequestCounter>) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        Self::new(&config, counter)
    }
}
