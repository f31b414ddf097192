//! The SQS queue: ingest and relay publish postings with `SendMessageBatch`; in AWS the event source
//! mapping feeds `consolidate`, and locally `fluxo serve --backend aws` polls it through [`Inbox`].

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageSystemAttributeName, QueueAttributeName, SendMessageBatchRequestEntry,
};

use super::errors::sdk;
use crate::domain::entry::Posting;
use crate::ports::{Delivery, Inbox, PortError, Publisher, QueueDepths};

/// SQS's limit of messages in one batch call.
const BATCH_MAX: usize = 10;

/// An SQS queue and its dead-letter queue, by URL.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    dead_letter_url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>, dead_letter_url: Option<String>) -> Self {
        Self { client, url: url.into(), dead_letter_url }
    }

    async fn depth_of(&self, url: &str) -> Result<(i64, i64), PortError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(sdk)?;
        let attrs = out.attributes.unwrap_or_default();
        let get = |name| attrs.get(&name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }
}

#[async_trait]
impl Publisher for SqsQueue {
    #[tracing::instrument(name = "sqs.publish", skip_all, fields(postings = postings.len()))]
    async fn publish(&self, postings: &[Posting]) -> Result<(), PortError> {
        let bodies = crate::adapters::bodies(postings)?;
        for chunk in bodies.chunks(BATCH_MAX) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| SendMessageBatchRequestEntry::builder().id(i.to_string()).message_body(body).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PortError::failure("an SQS batch entry could not be built").caused_by(e))?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sdk)?;
            if !out.failed.is_empty() {
                return Err(PortError::unavailable(format!(
                    "{} of {} messages were not sent",
                    out.failed.len(),
                    chunk.len()
                )));
            }
        }
        Ok(())
    }
}

#[async_trait]
impl Inbox for SqsQueue {
    async fn receive(&self, max: usize) -> Result<Vec<Delivery>, PortError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.min(BATCH_MAX)).unwrap_or(10))
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(sdk)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let attrs = m.attributes.unwrap_or_default();
                let num = |name| attrs.get(&name).and_then(|v: &String| v.parse().ok()).unwrap_or(0);
                Delivery {
                    receive_count: num(MessageSystemAttributeName::ApproximateReceiveCount),
                    sent_ms: num(MessageSystemAttributeName::SentTimestamp),
                    first_receive_ms: num(MessageSystemAttributeName::ApproximateFirstReceiveTimestamp),
                    message_id: m.message_id.unwrap_or_default(),
                    receipt: m.receipt_handle.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                }
            })
            .collect())
    }

    async fn delete(&self, receipts: Vec<String>) -> Result<(), PortError> {
        for chunk in receipts.chunks(BATCH_MAX) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(r).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PortError::failure("an SQS batch entry could not be built").caused_by(e))?;
            self.client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sdk)?;
        }
        Ok(())
    }

    async fn depths(&self) -> Result<QueueDepths, PortError> {
        let (visible, in_flight) = self.depth_of(&self.url).await?;
        let dead = match &self.dead_letter_url {
            Some(url) => self.depth_of(url).await?.0,
            None => 0,
        };
        Ok(QueueDepths { visible, in_flight, dead })
    }

    async fn arrived(&self) {
        // Receives long-poll already; there is no local signal to wait for.
        std::future::pending::<()>().await;
    }
}
