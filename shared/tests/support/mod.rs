//! Test support shared by the conformance suites: the emulator ([`moto`]) and AWS clients pointed at it.

#![allow(dead_code)]

pub mod moto;

pub use moto::moto_url;

use aws_sdk_dynamodb::config::Credentials;
use fluxo::adapters::aws::{Clients, RequestCounter};

/// Clients for the emulator, counting requests with `counter`.
pub fn clients(url: &str, counter: Option<&RequestCounter>) -> Clients {
    let config = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(Credentials::new(
            "test",
            "test",
            None,
            None,
            "fluxo-tests",
        )))
        .build();
    Clients::new(&config, counter)
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}
