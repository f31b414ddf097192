//! The embedded backend: the ledger store and the queue as two SQLite databases in one data directory.
//!
//! Both run in WAL mode with `synchronous = FULL`, so a write is on disk when its commit returns: an
//! entry answered 201 survives `kill -9`. Each database has one writer thread that commits the writes
//! queued for it together, one transaction and one fsync per group, and answers each write only after
//! that commit (group commit); reads run on tokio's blocking pool over a reader connection.

mod queue;
mod rollups;
mod sqlite;
mod store;

pub use queue::{EmbeddedQueue, QueueSettings};
pub use store::EmbeddedStore;
