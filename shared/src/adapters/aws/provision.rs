//! Creates the table and queues the adapters expect, for `fluxo init` against an emulator or a
//! sandbox account. Production resources are defined in Terraform, with the same shapes.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType,
};
use aws_sdk_sqs::types::QueueAttributeName;

use super::errors::{build, sdk};
use super::item;
use crate::ports::PortError;

/// Creates the ledger table with its two indexes and its stream, unless it exists. The date index
/// carries the listed attributes only ([`item::LISTED`]), so an entry's applied mark never rewrites
/// it; the account directory holds account items only.
///
/// # Errors
/// When DynamoDB refuses.
pub async fn ensure_table(client: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), PortError> {
    if client.describe_table().table_name(table).send().await.is_ok() {
        return Ok(());
    }
    let attr = |name: &str, kind| {
        AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().map_err(build)
    };
    let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().map_err(build);
    let index = |name: &str, pk: &str, sk: &str, projection: Projection| -> Result<GlobalSecondaryIndex, PortError> {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(pk, KeyType::Hash)?)
            .key_schema(key(sk, KeyType::Range)?)
            .projection(projection)
            .build()
            .map_err(build)
    };
    let listed = Projection::builder()
        .projection_type(ProjectionType::Include)
        .set_non_key_attributes(Some(item::LISTED.iter().map(|a| (*a).to_owned()).collect()))
        .build();
    let keys_only = Projection::builder().projection_type(ProjectionType::KeysOnly).build();
    // The table is the outbox: relay reads each new entry from its stream.
    let stream = StreamSpecification::builder()
        .stream_enabled(true)
        .stream_view_type(StreamViewType::NewImage)
        .build()
        .map_err(build)?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("PK", ScalarAttributeType::S)?)
        .attribute_definitions(attr("SK", ScalarAttributeType::S)?)
        .attribute_definitions(attr("GSI1PK", ScalarAttributeType::S)?)
        .attribute_definitions(attr("GSI1SK", ScalarAttributeType::S)?)
        .attribute_definitions(attr("GSI2PK", ScalarAttributeType::S)?)
        .attribute_definitions(attr("GSI2SK", ScalarAttributeType::S)?)
        .key_schema(key("PK", KeyType::Hash)?)
        .key_schema(key("SK", KeyType::Range)?)
        .global_secondary_indexes(index("GSI1", "GSI1PK", "GSI1SK", listed)?)
        .global_secondary_indexes(index("GSI2", "GSI2PK", "GSI2SK", keys_only)?)
        .stream_specification(stream)
        .send()
        .await
        .map_err(sdk)?;
    Ok(())
}

/// The URLs of a queue and its dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUrls {
    pub queue: String,
    pub dead_letter: String,
}

/// Creates `{name}` and `{name}-dlq` with a redrive policy, unless they exist.
///
/// # Errors
/// When SQS refuses.
pub async fn ensure_queues(
    client: &aws_sdk_sqs::Client,
    name: &str,
    max_receives: i64,
    visibility_s: i64,
) -> Result<QueueUrls, PortError> {
    let dlq_name = format!("{name}-dlq");
    let dead_letter =
        client.create_queue().queue_name(&dlq_name).send().await.map_err(sdk)?.queue_url.unwrap_or_default();
    let attrs = client
        .get_queue_attributes()
        .queue_url(&dead_letter)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(sdk)?;
    let arn = attrs.attributes.and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned()).unwrap_or_default();
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max_receives.to_string() }).to_string();
    let queue = client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .attributes(QueueAttributeName::VisibilityTimeout, visibility_s.to_string())
        .send()
        .await
        .map_err(sdk)?
        .queue_url
        .unwrap_or_default();
    Ok(QueueUrls { queue, dead_letter })
}
