//! Shared plumbing for the SQLite databases: opening, pragmas and running calls off the async threads.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

use crate::ports::PortError;

/// One SQLite connection, shared behind a mutex and used from the blocking pool.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) a database and applies `schema`.
    pub(crate) fn open(path: &Path, schema: &str) -> Result<Self, PortError> {
        let conn = Connection::open(path).map_err(|e| failure(&e))?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(|e| failure(&e))?;
        // WAL with FULL sync: every commit is durable, and readers never block the writer.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| failure(&e))?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| failure(&e))?;
        conn.execute_batch(schema).map_err(|e| failure(&e))?;
        Ok(Self { conn: Arc::new(Mutex::new(conn)) })
    }

    /// Adds each missing column of `columns` (table, column, definition). Runs at open, before any
    /// other use of the connection.
    pub(crate) fn migrate(&self, columns: &[(&str, &str, &str)]) -> Result<(), PortError> {
        let conn = self.conn.lock().map_err(|_| PortError::Failure("sqlite connection poisoned".into()))?;
        for (table, column, definition) in columns {
            let present: i64 = conn
                .query_row(
                    &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
                    [column],
                    |r| r.get(0),
                )
                .map_err(|e| failure(&e))?;
            if present == 0 {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {definition}"))
                    .map_err(|e| failure(&e))?;
            }
        }
        Ok(())
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, PortError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| PortError::Failure("sqlite connection poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| PortError::Failure(format!("sqlite task failed: {e}")))?
    }
}

/// Maps a SQLite error to a port error: a busy or locked database is worth retrying.
pub(crate) fn failure(e: &rusqlite::Error) -> PortError {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => PortError::Unavailable(e.to_string()),
        _ => PortError::Failure(e.to_string()),
    }
}

/// Lets `?` turn SQLite errors into port errors inside [`Db::call`] closures.
impl From<rusqlite::Error> for PortError {
    fn from(e: rusqlite::Error) -> Self {
        failure(&e)
    }
}
