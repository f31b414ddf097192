//! The table's stream, which is the outbox on DynamoDB: every new entry item appears on it once, as
//! an `INSERT` record with its new image, and relay turns it into a posting on the queue.
//!
//! In AWS, Lambda's event source mapping reads the stream and hands `relay` its records. Locally,
//! [`StreamReader`] (the `runner` feature) reads it the same way, from the table's latest stream,
//! shard by shard from the oldest record kept, and builds the event Lambda would have sent.

use aws_lambda_events::event::dynamodb::EventRecord;

use super::item::{self, Item};
use crate::domain::entry::Posting;
use crate::ports::PortError;

/// The posting of a stream record that inserted an entry item; `None` for every other record (a
/// modified entry, an account, a rollup): only a new entry is relayed, once.
///
/// # Errors
/// When an inserted entry's image does not read as an entry.
pub fn posting_of(record: &EventRecord) -> Result<Option<Posting>, PortError> {
    if record.event_name != "INSERT" {
        return Ok(None);
    }
    let image: Item = record.change.new_image.clone().into();
    if !item::is_entry(&image) {
        return Ok(None);
    }
    item::posting_from(&image).map(Some)
}

#[cfg(feature = "runner")]
pub use reader::StreamReader;

#[cfg(feature = "runner")]
mod reader {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    use async_trait::async_trait;
    use aws_lambda_events::event::dynamodb::{Event, EventRecord, StreamRecord};
    use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};

    use super::super::errors::sdk;
    use crate::ports::{ChangeStream, PortError, StreamBatch};

    /// Records one `GetRecords` returns at most (DynamoDB Streams' own limit).
    const RECORDS_MAX: i32 = 1_000;
    /// How often the list of shards is read again, for shards that opened since.
    const SHARDS_EVERY: Duration = Duration::from_secs(1);

    /// Reads a table's stream as Lambda's event source mapping does: every shard from the oldest
    /// record it keeps (`TRIM_HORIZON`), a batch at a time, moving on only once a batch is handled.
    /// A runner that starts again reads the shards from their oldest records again: the postings it
    /// publishes twice are counted once.
    pub struct StreamReader {
        client: aws_sdk_dynamodbstreams::Client,
        arn: String,
        state: Mutex<Shards>,
    }

    #[derive(Default)]
    struct Shards {
        /// Each known shard's iterator; `None` once the shard is closed and read to its end.
        iterators: BTreeMap<String, Option<String>>,
        /// The shard the next read starts from, so every shard gets its turn.
        turn: usize,
        listed: Option<Instant>,
    }

    impl StreamReader {
        /// The reader of `table`'s latest stream.
        ///
        /// # Errors
        /// When the table cannot be described or has no stream.
        pub async fn open(
            dynamodb: &aws_sdk_dynamodb::Client,
            client: aws_sdk_dynamodbstreams::Client,
            table: &str,
        ) -> Result<Self, PortError> {
            let described = dynamodb.describe_table().table_name(table).send().await.map_err(sdk)?;
            let arn = described
                .table
                .and_then(|t| t.latest_stream_arn)
                .ok_or_else(|| PortError::failure(format!("table {table} has no stream; run `fluxo init`")))?;
            Ok(Self { client, arn, state: Mutex::new(Shards::default()) })
        }

        fn lock(&self) -> Result<std::sync::MutexGuard<'_, Shards>, PortError> {
            self.state.lock().map_err(|_| PortError::failure("the stream reader was poisoned by a panic"))
        }

        /// Adds the shards that opened since the last listing, each at its oldest record.
        async fn list_shards(&self) -> Result<(), PortError> {
            if self.lock()?.listed.is_some_and(|at| at.elapsed() < SHARDS_EVERY) {
                return Ok(());
            }
            let mut start: Option<String> = None;
            let mut found = Vec::new();
            loop {
                let out = self
                    .client
                    .describe_stream()
                    .stream_arn(&self.arn)
                    .set_exclusive_start_shard_id(start.take())
                    .send()
                    .await
                    .map_err(sdk)?;
                let Some(description) = out.stream_description else { break };
                found.extend(description.shards.unwrap_or_default().into_iter().filter_map(|s| s.shard_id));
                start = description.last_evaluated_shard_id;
                if start.is_none() {
                    break;
                }
            }
            for shard in found {
                if self.lock()?.iterators.contains_key(&shard) {
                    continue;
                }
                let iterator = self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
                    .shard_id(&shard)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .map_err(sdk)?
                    .shard_iterator;
                self.lock()?.iterators.insert(shard, iterator);
            }
            self.lock()?.listed = Some(Instant::now());
            Ok(())
        }

        /// The next shard with records left to read, in turn.
        fn next_shard(&self) -> Result<Option<(String, String)>, PortError> {
            let mut state = self.lock()?;
            let open: Vec<(String, String)> =
                state.iterators.iter().filter_map(|(s, i)| Some((s.clone(), i.clone()?))).collect();
            if open.is_empty() {
                return Ok(None);
            }
            state.turn = state.turn.wrapping_add(1);
            Ok(open.get(state.turn % open.len()).cloned())
        }

        fn event_record(&self, r: Record) -> EventRecord {
            let mut change = StreamRecord::default();
            if let Some(data) = r.dynamodb {
                change.keys = data.keys.unwrap_or_default().into();
                change.new_image = data.new_image.unwrap_or_default().into();
                change.sequence_number = data.sequence_number;
                change.size_bytes = data.size_bytes.unwrap_or_default();
            }
            let mut record = EventRecord::default();
            record.change = change;
            record.event_id = r.event_id.unwrap_or_default();
            record.event_name = r.event_name.map(|n| n.as_str().to_owned()).unwrap_or_default();
            record.event_source = r.event_source;
            record.event_version = r.event_version;
            record.aws_region = r.aws_region.unwrap_or_default();
            record.event_source_arn = Some(self.arn.clone());
            record
        }
    }

    #[async_trait]
    impl ChangeStream for StreamReader {
        async fn next(&self) -> Result<StreamBatch, PortError> {
            self.list_shards().await?;
            let Some((shard, iterator)) = self.next_shard()? else {
                return Ok(StreamBatch { shard: String::new(), event: Event::default(), next: None });
            };
            let out =
                self.client.get_records().shard_iterator(&iterator).limit(RECORDS_MAX).send().await.map_err(sdk)?;
            let mut event = Event::default();
            event.records = out.records.unwrap_or_default().into_iter().map(|r| self.event_record(r)).collect();
            Ok(StreamBatch { shard, event, next: out.next_shard_iterator })
        }

        async fn advance(&self, batch: &StreamBatch) -> Result<(), PortError> {
            if let Some(iterator) = self.lock()?.iterators.get_mut(&batch.shard) {
                iterator.clone_from(&batch.next);
            }
            Ok(())
        }
    }
}
