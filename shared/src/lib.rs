//! Fluxo: a cash-flow ledger for merchants, as a set of AWS Lambda functions over one library.
//!
//! A map of this crate, from the inside out:
//!
//! - [`domain`]: the ledger's vocabulary, pure and free of I/O: accounts, money, entries, business
//!   dates, daily balances and their rollups, idempotency keys, and the consolidation policy (a planner
//!   from a store's snapshot to the plan it commits).
//! - [`ports`]: the traits the ledger needs from the world: [`ports::LedgerStore`],
//!   [`ports::BalanceStore`], [`ports::Publisher`], [`ports::Outbox`], [`ports::ChangeStream`],
//!   [`ports::Inbox`], [`ports::Clock`].
//! - [`ledger`]: the use cases, composing ports and domain: record, reverse, consolidate, relay,
//!   reconcile, read.
//! - [`audit`]: the books proven: balances recomputed from the entries and compared with the store.
//! - [`readiness`]: whether the store and the queue answer now, for the runner's `GET /ready`.
//! - [`message`]: the queue message that carries a posting from ingest to consolidation.
//! - [`auth`]: bearer tokens and API Gateway authorizer claims, scopes and account grants.
//! - [`http`]: routing, request parsing and problem+json, shared by the HTTP functions.
//! - [`views`]: the JSON shapes of the v1 contract.
//! - [`handlers`]: what each Lambda function runs: `ingest`, `report`, `consolidate`, `relay`.
//! - [`adapters`]: the ports over real backends: the embedded SQLite store, queue and outbox;
//!   DynamoDB (its stream the outbox) and SQS; plain maps in memory.
//! - [`config`]: settings from the environment, and building the ledger from them.
//! - [`telemetry`]: the metrics the ledger emits (EMF in Lambda, Prometheus in the runner).
//! - [`logs`]: the functions' log subscriber, with every crate but Fluxo's held at INFO.

pub mod adapters;
pub mod audit;
pub mod auth;
pub mod config;
pub mod domain;
pub mod handlers;
pub mod http;
pub mod ledger;
pub mod logs;
pub mod message;
pub mod ports;
pub mod readiness;
pub mod telemetry;
pub mod views;
