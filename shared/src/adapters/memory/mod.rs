//! The in-memory backend: the ledger store ([`MemoryStore`]) and the queue ([`MemoryQueue`]) as plain
//! maps behind a mutex, with the same semantics as the embedded and DynamoDB adapters (idempotency
//! records and outbox rows written with their entry, reversal marks, applied marks and checked
//! rollups, SQS-like redelivery) and nothing durable. It serves the conformance suite as a third
//! backend and the handler benchmarks, which measure the handlers' own CPU with no I/O behind the ports.
//!
//! Every port call takes the one lock for its whole duration and decides before it writes, so each
//! call is atomic exactly as one SQLite transaction or one DynamoDB transaction is.

mod queue;
mod store;

pub use queue::MemoryQueue;
pub use store::MemoryStore;
