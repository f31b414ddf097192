//! Shared plumbing for the SQLite databases: opening, pragmas, reads off the async threads, and the
//! single writer of each database, which commits concurrent writes together (group commit).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};
use tokio::sync::oneshot;

use crate::ports::PortError;

/// Opens (creating if needed) a database in WAL mode with FULL sync and applies `schema`.
fn connect(path: &Path, schema: &str) -> Result<Connection, PortError> {
    let conn = Connection::open(path).map_err(failure)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(failure)?;
    // WAL with FULL sync: every commit is durable, and readers never block the writer.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(failure)?;
    conn.pragma_update(None, "synchronous", "FULL").map_err(failure)?;
    conn.execute_batch(schema).map_err(failure)?;
    Ok(conn)
}

/// One SQLite connection for reads, shared behind a mutex and used from the blocking pool.
#[derive(Clone)]
pub(crate) struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    /// Opens (creating if needed) a database and applies `schema`.
    pub(crate) fn open(path: &Path, schema: &str) -> Result<Self, PortError> {
        Ok(Self { conn: Arc::new(Mutex::new(connect(path, schema)?)) })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, PortError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().map_err(|_| PortError::failure("sqlite connection poisoned"))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| PortError::failure("the sqlite task failed").caused_by(e))?
    }
}

/// Write jobs one group may hold. A bigger group shares one fsync among more writes, but the first
/// of them waits for all the others' statements: this bounds that wait to a few milliseconds.
const GROUP_MAX: usize = 256;

/// What a job hands back after running: whether its changes stay, and how to answer once the
/// group's commit is known (`None`: committed, durable).
type Reply = Box<dyn FnOnce(Option<&PortError>) + Send>;
type Done = (bool, Reply);
type Job = Box<dyn FnOnce(&Connection) -> Done + Send>;

/// The only writer of one database: a thread that owns the write connection and takes the write
/// jobs queued for it in groups. Each group is one `BEGIN IMMEDIATE ... COMMIT`, so one fsync makes
/// all of its jobs durable; each job runs in a savepoint of its own, so a job that fails leaves no
/// trace and the others still commit. A job's caller gets its answer only after the commit returned:
/// nothing is acknowledged before it is on disk. Under no contention a group is one job, and a write
/// costs what it did with a connection of its own.
#[derive(Clone)]
pub(crate) struct Writer {
    jobs: Sender<Job>,
}

impl Writer {
    /// Opens (creating if needed) a database, applies `schema` and adds the missing `columns`
    /// (table, column, definition), then starts its writer thread. The thread ends when the last
    /// clone of the writer is dropped.
    pub(crate) fn open(path: &Path, schema: &str, columns: &[(&str, &str, &str)]) -> Result<Self, PortError> {
        let conn = connect(path, schema)?;
        migrate(&conn, columns)?;
        let (jobs, queued) = channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_groups(&conn, &queued))
            .map_err(|e| PortError::failure("cannot start the sqlite writer").caused_by(e))?;
        Ok(Self { jobs })
    }

    /// Runs `f` inside the writer's next group and answers once that group is committed. An `Err`
    /// from `f` rolls back `f`'s changes only.
    ///
    /// # Errors
    /// `f`'s error; the commit's; `Unavailable` when the group could not start a transaction.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, PortError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let out = f(conn);
            let keep = out.is_ok();
            let reply = move |commit: Option<&PortError>| {
                let _ = answer.send(match commit {
                    None => out,
                    Some(error) => Err(error.clone()),
                });
            };
            (keep, Box::new(reply))
        });
        self.jobs.send(job).map_err(|_| PortError::failure("the sqlite writer stopped"))?;
        // A dropped job (its group could not begin, or it panicked) drops its answer unsent.
        answered.await.map_err(|_| PortError::unavailable("the write was not committed"))?
    }
}

/// The writer thread: waits for a job, takes every job queued behind it (up to `GROUP_MAX`), and
/// commits them as one group; until every writer handle is dropped.
fn write_groups(conn: &Connection, queued: &Receiver<Job>) {
    while let Ok(first) = queued.recv() {
        let mut group = Vec::with_capacity(GROUP_MAX);
        group.push(first);
        while group.len() < GROUP_MAX {
            match queued.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        commit_group(conn, group);
    }
}

fn commit_group(conn: &Connection, group: Vec<Job>) {
    if let Err(error) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Dropping the jobs answers each caller that nothing was written.
        tracing::warn!(%error, jobs = group.len(), "sqlite writer could not begin a transaction");
        return;
    }
    let mut replies: Vec<Reply> = Vec::with_capacity(group.len());
    for job in group {
        if let Err(error) = conn.execute_batch("SAVEPOINT job") {
            tracing::warn!(%error, "sqlite writer could not open a savepoint");
            continue;
        }
        let (keep, reply) = match catch_unwind(AssertUnwindSafe(|| job(conn))) {
            Ok(done) => done,
            Err(_) => {
                // The job's answer went down with it: its caller is told the write did not happen.
                tracing::error!("a sqlite write job panicked; its changes are rolled back");
                let nothing: Reply = Box::new(|_| {});
                (false, nothing)
            }
        };
        let end = if keep { "RELEASE job" } else { "ROLLBACK TO job; RELEASE job" };
        if let Err(error) = conn.execute_batch(end) {
            // The transaction is in an unknown state: give up the whole group.
            let error = failure(error);
            let _ = conn.execute_batch("ROLLBACK");
            reply(Some(&error));
            for reply in replies {
                reply(Some(&error));
            }
            return;
        }
        replies.push(reply);
    }
    let committed = conn.execute_batch("COMMIT").map_err(failure);
    if committed.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    let error = committed.err();
    for reply in replies {
        reply(error.as_ref());
    }
}

/// Adds each missing column of `columns` (table, column, definition).
fn migrate(conn: &Connection, columns: &[(&str, &str, &str)]) -> Result<(), PortError> {
    for (table, column, definition) in columns {
        let present: i64 = conn
            .query_row(&format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"), [column], |r| {
                r.get(0)
            })
            .map_err(failure)?;
        if present == 0 {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {definition}")).map_err(failure)?;
        }
    }
    Ok(())
}

/// Maps a SQLite error to a port error: a busy or locked database is worth retrying.
pub(crate) fn failure(e: rusqlite::Error) -> PortError {
    let error = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => PortError::unavailable("SQLite is busy"),
        _ => PortError::failure("SQLite refused"),
    };
    error.caused_by(e)
}

/// Lets `?` turn SQLite errors into port errors inside `Db::call` and `Writer::write` closures.
impl From<rusqlite::Error> for PortError {
    fn from(e: rusqlite::Error) -> Self {
        failure(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT NOT NULL) STRICT;";

    fn committed(path: &Path, k: i64) -> bool {
        // A connection of its own sees only what was committed.
        let conn = Connection::open(path).expect("open a second connection");
        conn.query_row("SELECT COUNT(*) FROM t WHERE k = ?1", [k], |r| r.get::<_, i64>(0)).expect("count") == 1
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn given_concurrent_writes_then_each_answer_follows_its_commit_and_a_failed_one_leaves_no_trace() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("t.sqlite");
        let writer = Writer::open(&path, SCHEMA, &[]).expect("open the writer");
        let refused = 77;
        let mut tasks = Vec::new();
        for k in 0..200_i64 {
            let (writer, path) = (writer.clone(), path.clone());
            tasks.push(tokio::spawn(async move {
                let answer = writer
                    .write(move |conn| {
                        conn.execute("INSERT INTO t (k, v) VALUES (?1, 'x')", [k])?;
                        if k == refused { Err(PortError::failure("refused")) } else { Ok(k) }
                    })
                    .await;
                // WHEN a write is answered THEN another connection already sees it.
                let seen = tokio::task::spawn_blocking(move || committed(&path, k)).await.expect("read");
                (k, answer.is_ok(), seen)
            }));
        }
        for task in tasks {
            let (k, ok, seen) = task.await.expect("write task");
            assert_eq!(ok, k != refused, "write {k}");
            assert_eq!(seen, k != refused, "row {k} committed");
        }
        let rows: i64 = Connection::open(&path)
            .expect("open")
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .expect("count rows");
        assert_eq!(rows, 199);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn given_a_write_that_panics_then_its_caller_gets_an_error_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("t.sqlite");
        let writer = Writer::open(&path, SCHEMA, &[]).expect("open the writer");
        let panicked = writer
            .write(|conn| -> Result<(), PortError> {
                conn.execute("INSERT INTO t (k, v) VALUES (1, 'x')", [])?;
                panic!("a bug in a write job");
            })
            .await;
        assert!(matches!(panicked, Err(PortError::Unavailable { .. })), "{panicked:?}");
        writer.write(|conn| Ok(conn.execute("INSERT INTO t (k, v) VALUES (2, 'y')", [])?)).await.expect("next write");
        assert!(!committed(&path, 1), "the panicked write was rolled back");
        assert!(committed(&path, 2));
    }
}
