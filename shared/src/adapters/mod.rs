//! Adapters: the ports implemented over real backends.
//!
//! - [`embedded`]: SQLite files in a data directory, for one machine (`fluxo serve`, tests, and the
//!   functions under `cargo lambda watch`).

pub mod embedded;
