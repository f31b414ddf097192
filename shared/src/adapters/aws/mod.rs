//! The AWS backend: DynamoDB for the ledger store, SQS for the queue. Clients are built once per
//! execution environment from the standard AWS environment (`AWS_REGION`, credentials, and
//! `AWS_ENDPOINT_URL` for emulators) and shared by every invocation.

mod counter;
mod dynamo;
pub mod item;
mod provision;
mod sqs;

pub use counter::RequestCounter;
pub use dynamo::DynamoStore;
pub use provision::{QueueUrls, ensure_queues, ensure_table};
pub use sqs::SqsQueue;

/// The SDK clients, built from one shared configuration, optionally counting their requests.
#[derive(Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Clients {
    /// Builds both clients from `config`, attaching `counter` when given.
    pub fn new(config: &aws_config::SdkConfig, counter: Option<&RequestCounter>) -> Self {
        let mut dynamodb = aws_sdk_dynamodb::config::Builder::from(config);
        let mut sqs = aws_sdk_sqs::config::Builder::from(config);
        if let Some(counter) = counter {
            dynamodb = dynamodb.interceptor(counter.clone());
            sqs = sqs.interceptor(counter.clone());
        }
        Self {
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb.build()),
            sqs: aws_sdk_sqs::Client::from_conf(sqs.build()),
        }
    }

    /// Loads the standard AWS configuration from the environment and builds the clients.
    pub async fn from_env(counter: Option<&RequestCounter>) -> Self {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        Self::new(&config, counter)
    }
}
