//! The embedded backend: the ledger store and the queue as two SQLite databases in one data directory.
//!
//! Both run in WAL mode with `synchronous = FULL`, so a write is on disk when its commit returns: an
//! entry answered 201 survives `kill -9`. Blocking SQLite calls run on tokio's blocking pool.

mod queue;
mod sqlite;
mod store;

pub use queue::{EmbeddedQueue, QueueSettings};
pub use store::EmbeddedStore;
