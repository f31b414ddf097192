//! The ledger built from the settings: the embedded backend, or DynamoDB and SQS, with the queue's
//! consuming side and where relay reads; and the stores alone, for reading the books.

use std::sync::Arc;
use std::time::Instant;

#[cfg(feature = "embedded")]
use super::private_dir;
use super::{Backend, CONNECT_WITHIN, ConfigError, Settings, invalid};
use crate::adapters::aws::{Clients, DynamoStore, RequestCounter, SqsQueue};
#[cfg(feature = "embedded")]
use crate::adapters::embedded::{EmbeddedQueue, EmbeddedStore};
use crate::handlers::ApiState;
use crate::ledger::Ledger;
use crate::ports::{ChangeStream, Inbox, Outbox, SystemClock};
use crate::readiness::{self, Check, Connections};

/// The ledger over the embedded backend, with the queue handle the runner consumes.
#[cfg(feature = "embedded")]
#[derive(Clone)]
pub struct Embedded {
    pub store: EmbeddedStore,
    pub queue: EmbeddedQueue,
    pub ledger: Ledger,
}

#[cfg(feature = "embedded")]
impl Embedded {
    /// Opens the embedded store and queue in the data directory, creating it if needed.
    ///
    /// # Errors
    /// When the directory or the databases cannot be opened.
    pub fn open(settings: &Settings) -> Result<Self, ConfigError> {
        let dir = &settings.data_dir;
        private_dir(dir)?;
        let store = EmbeddedStore::open(dir)?;
        let queue = EmbeddedQueue::open(dir, settings.queue)?;
        let ledger = Ledger::new(
            Arc::new(store.clone()),
            Arc::new(store.clone()),
            Arc::new(queue.clone()),
            Arc::new(SystemClock),
            settings.relay,
        );
        Ok(Self { store, queue, ledger })
    }

    /// The HTTP functions' state over this ledger.
    ///
    /// # Errors
    /// When the authenticator cannot be built.
    pub fn api(&self, settings: &Settings) -> Result<ApiState, ConfigError> {
        Ok(ApiState { ledger: self.ledger.clone(), auth: settings.authenticator()? })
    }
}

/// Where relay finds recorded entries when something polls for them (the runner; in AWS the
/// stream's event source mapping pushes them to the `relay` function instead).
#[derive(Clone)]
pub enum RelaySource {
    /// The embedded store's outbox.
    Outbox(Arc<dyn Outbox>),
    /// The DynamoDB table's stream, read as the event source mapping reads it.
    Stream(Arc<dyn ChangeStream>),
    /// Nothing to poll: this build reads no stream (the Lambda packages).
    Pushed,
}

/// The ledger over whichever backend the settings name, with the queue's consuming side and where
/// relay reads from.
#[derive(Clone)]
pub struct Wiring {
    pub ledger: Ledger,
    pub inbox: Arc<dyn Inbox>,
    pub relay: RelaySource,
}

impl Wiring {
    /// Opens the configured backend. For `aws`, clients are built once here and shared; `counter`,
    /// when given, counts every request they send.
    ///
    /// # Errors
    /// When the backend cannot be opened or the queue URL cannot be found.
    pub async fn open(settings: &Settings, counter: Option<&RequestCounter>) -> Result<Self, ConfigError> {
        match settings.backend {
            #[cfg(feature = "embedded")]
            Backend::Embedded => {
                let embedded = Embedded::open(settings)?;
                let relay = RelaySource::Outbox(Arc::new(embedded.store));
                Ok(Self { ledger: embedded.ledger, inbox: Arc::new(embedded.queue), relay })
            }
            #[cfg(not(feature = "embedded"))]
            Backend::Embedded => Err(invalid("FLUXO_BACKEND", "this build has no embedded backend; use aws")),
            Backend::Aws => {
                let clients = Clients::from_env(counter).await;
                let wiring = Self::aws(settings, &clients).await?;
                #[cfg(feature = "runner")]
                let wiring = Self { relay: Self::stream(settings, &clients).await?, ..wiring };
                Ok(wiring)
            }
        }
    }

    /// The AWS backend over given clients.
    ///
    /// # Errors
    /// When the queue URL is not set and cannot be looked up.
    pub async fn aws(settings: &Settings, clients: &Clients) -> Result<Self, ConfigError> {
        let (queue_url, dead_letter_url) = match &settings.queue_url {
            Some(url) => (url.clone(), None),
            None => (
                queue_url(clients, &settings.queue_name).await?,
                queue_url(clients, &format!("{}-dlq", settings.queue_name)).await.ok(),
            ),
        };
        let store = DynamoStore::new(clients.dynamodb.clone(), &settings.table);
        let queue = SqsQueue::new(clients.sqs.clone(), queue_url, dead_letter_url);
        let ledger = Ledger::new(
            Arc::new(store.clone()),
            Arc::new(store),
            Arc::new(queue.clone()),
            Arc::new(SystemClock),
            settings.relay,
        );
        Ok(Self { ledger, inbox: Arc::new(queue), relay: RelaySource::Pushed })
    }

    /// The table's stream, read as the event source mapping reads it.
    ///
    /// # Errors
    /// When the table has no stream.
    #[cfg(feature = "runner")]
    pub async fn stream(settings: &Settings, clients: &Clients) -> Result<RelaySource, ConfigError> {
        let reader = crate::adapters::aws::stream::StreamReader::open(
            &clients.dynamodb,
            clients.streams.clone(),
            &settings.table,
        )
        .await?;
        Ok(RelaySource::Stream(Arc::new(reader)))
    }

    /// The HTTP functions' state over this ledger.
    ///
    /// # Errors
    /// When the authenticator cannot be built.
    pub fn api(&self, settings: &Settings) -> Result<ApiState, ConfigError> {
        Ok(ApiState { ledger: self.ledger.clone(), auth: settings.authenticator()? })
    }

    /// Opens the `connections` a function uses during its init, unless `FLUXO_CONNECT_AT_INIT=off`,
    /// so its first invocation finds them open; waits at most [`CONNECT_WITHIN`] and fails nothing
    /// (see [`readiness::connect`]).
    pub async fn connect(&self, settings: &Settings, connections: Connections) {
        if !settings.connect_at_init {
            return;
        }
        let started = Instant::now();
        let opened = readiness::connect(&self.ledger, self.inbox.as_ref(), connections, CONNECT_WITHIN).await;
        tracing::info!(
            store = opened.store.as_str(),
            queue = opened.queue.map(Check::as_str),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "connections opened at init"
        );
    }
}

async fn queue_url(clients: &Clients, name: &str) -> Result<String, ConfigError> {
    let out = clients.sqs.get_queue_url().queue_name(name).send().await.map_err(|e| {
        invalid(
            "FLUXO_QUEUE_NAME",
            format!(
                "queue {name:?} not found ({}); run `fluxo init` or set FLUXO_QUEUE_URL",
                aws_smithy_types::error::display::DisplayErrorContext(&e)
            ),
        )
    })?;
    out.queue_url.ok_or_else(|| invalid("FLUXO_QUEUE_NAME", format!("queue {name:?} has no URL")))
}

/// The stores of the configured backend, for reading the books as they are (`fluxo audit`): the
/// embedded store already in the data directory, or the table FLUXO_TABLE names. Nothing is created.
///
/// # Errors
/// When the data directory holds no store, or the store cannot be opened.
pub async fn books(settings: &Settings) -> Result<crate::audit::Books, ConfigError> {
    match settings.backend {
        #[cfg(feature = "embedded")]
        Backend::Embedded => {
            if !settings.data_dir.join("ledger.sqlite").is_file() {
                let reason = format!("{} holds no embedded store", settings.data_dir.display());
                return Err(invalid("FLUXO_DATA_DIR", reason));
            }
            let store = Arc::new(EmbeddedStore::open(&settings.data_dir)?);
            Ok(crate::audit::Books { store: store.clone(), balances: store })
        }
        #[cfg(not(feature = "embedded"))]
        Backend::Embedded => Err(invalid("FLUXO_BACKEND", "this build has no embedded backend; use aws")),
        Backend::Aws => {
            let clients = Clients::from_env(None).await;
            let store = Arc::new(DynamoStore::new(clients.dynamodb, &settings.table));
            Ok(crate::audit::Books { store: store.clone(), balances: store })
        }
    }
}
