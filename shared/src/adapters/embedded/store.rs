//! The ledger store on SQLite: accounts, entries with their idempotency keys and outbox rows, and the
//! daily and monthly rollups that consolidation maintains.

use std::collections::HashSet;
use std::path::Path;

use async_trait::async_trait;
use jiff::Timestamp;
use jiff::civil::Date;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::rollups::{apply_postings, days_between, months_from, prior_closing};
use super::sqlite::{Db, Writer};
use crate::adapters::corrupt;
use crate::domain::account::{Account, AccountId, AccountName, Currency, Zone};
use crate::domain::audit::Rollups;
use crate::domain::balance::BalanceHistory;
use crate::domain::calendar::{month_of, parse_date, parse_instant};
use crate::domain::entry::{Description, Entry, EntryId, EntryType, Posting};
use crate::domain::idempotency::{Fingerprint, IdempotencyKey, StoredResponse};
use crate::domain::money::Amount;
use crate::ports::{
    Applied, BalanceStore, EntryPage, LedgerStore, MarkedPage, NewEntry, Outbox, Pending, PortError, PutAccount,
    Recorded,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    timezone TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS entries (
    account_id TEXT NOT NULL REFERENCES accounts(id),
    id TEXT NOT NULL,
    type TEXT NOT NULL CHECK (type IN ('credit', 'debit')),
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    description TEXT,
    occurred_at TEXT NOT NULL,
    business_date TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    reverses TEXT,
    reversed_by TEXT,
    applied_at TEXT,
    PRIMARY KEY (account_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_by_date ON entries (account_id, business_date, id);
CREATE TABLE IF NOT EXISTS outbox (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id TEXT NOT NULL,
    entry_id TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS idempotency (
    account_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    location TEXT NOT NULL,
    PRIMARY KEY (account_id, key)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_totals (
    account_id TEXT NOT NULL,
    date TEXT NOT NULL,
    credits INTEGER NOT NULL,
    debits INTEGER NOT NULL,
    entry_count INTEGER NOT NULL,
    PRIMARY KEY (account_id, date)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS monthly_totals (
    account_id TEXT NOT NULL,
    month TEXT NOT NULL,
    credits INTEGER NOT NULL,
    debits INTEGER NOT NULL,
    entry_count INTEGER NOT NULL,
    closing INTEGER NOT NULL,
    PRIMARY KEY (account_id, month)
) STRICT, WITHOUT ROWID;
";

/// Columns added after the first schema, for stores created before them: (table, column, definition).
/// (Stores from before the outbox keep their relay columns, which nothing reads any more.)
const MIGRATIONS: &[(&str, &str, &str)] = &[];

const ENTRY_COLUMNS: &str = "account_id, id, type, amount, currency, description, occurred_at, business_date, recorded_at, reverses, reversed_by";

/// The embedded ledger store on `ledger.sqlite`: its writer, which commits concurrent writes in groups
/// (see `sqlite::Writer`), and one reader connection.
#[derive(Clone)]
pub struct EmbeddedStore {
    writer: Writer,
    reader: Db,
}

impl EmbeddedStore {
    /// Opens or creates the store in `dir`.
    ///
    /// # Errors
    /// When the database cannot be opened or its schema applied.
    pub fn open(dir: &Path) -> Result<Self, PortError> {
        let path = dir.join("ledger.sqlite");
        let writer = Writer::open(&path, SCHEMA, MIGRATIONS)?;
        let reader = Db::open(&path, "")?;
        Ok(Self { writer, reader })
    }

    /// Runs `f` in the writer's next group: its changes are durable when this returns `Ok`.
    async fn write<T, F>(&self, f: F) -> Result<T, PortError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, PortError> + Send + 'static,
    {
        self.writer.write(f).await
    }
}

#[async_trait]
impl LedgerStore for EmbeddedStore {
    async fn put_account(&self, account: &Account) -> Result<PutAccount, PortError> {
        let account = account.clone();
        self.write(move |tx| {
            let Some(existing) = read_account(tx, &account.id)? else {
                tx.execute(
                    "INSERT INTO accounts (id, name, currency, timezone, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        account.id.as_str(),
                        account.name.as_str(),
                        account.currency.code(),
                        account.zone.name(),
                        account.created_at.to_string()
                    ],
                )?;
                return Ok(PutAccount::Created(account));
            };
            Ok(match existing.compare(&account) {
                crate::domain::account::AccountChange::Unchanged => PutAccount::Unchanged(existing),
                crate::domain::account::AccountChange::Conflict => PutAccount::Conflict(existing),
                crate::domain::account::AccountChange::Renamed => {
                    tx.execute(
                        "UPDATE accounts SET name = ?2 WHERE id = ?1",
                        params![account.id.as_str(), account.name.as_str()],
                    )?;
                    PutAccount::Renamed(Account { name: account.name, ..existing })
                }
            })
        })
        .await
    }

    async fn get_account(&self, id: &AccountId) -> Result<Option<Account>, PortError> {
        let id = id.clone();
        self.reader.call(move |conn| read_account(conn, &id)).await
    }

    async fn find_key(&self, account: &AccountId, key: &IdempotencyKey) -> Result<Option<StoredResponse>, PortError> {
        let (account, key) = (account.clone(), key.clone());
        self.reader.call(move |conn| read_key(conn, &account, &key)).await
    }

    #[tracing::instrument(name = "sqlite.record", skip_all, fields(entry_id = %new.entry.id))]
    async fn record(&self, new: &NewEntry) -> Result<Recorded, PortError> {
        let new = new.clone();
        self.write(move |tx| record_entry(tx, &new)).await
    }

    async fn get_entry(&self, account: &AccountId, id: &EntryId) -> Result<Option<Entry>, PortError> {
        let (account, id) = (account.clone(), *id);
        self.reader.call(move |conn| read_entry(conn, &account, &id)).await
    }

    async fn list_entries(
        &self,
        account: &AccountId,
        date: Date,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<EntryPage, PortError> {
        Ok(self.list_marked(account, date, after, limit).await?.page)
    }

    async fn list_marked(
        &self,
        account: &AccountId,
        date: Date,
        after: Option<EntryId>,
        limit: usize,
    ) -> Result<MarkedPage, PortError> {
        let account = account.clone();
        self.reader
            .call(move |conn| {
                let sql = format!(
                    "SELECT {ENTRY_COLUMNS}, applied_at IS NOT NULL FROM entries WHERE account_id = ?1 AND business_date = ?2 AND id > ?3 ORDER BY id LIMIT ?4"
                );
                let after = after.map(|id| id.to_string()).unwrap_or_default();
                let fetch = i64::try_from(limit.saturating_add(1)).unwrap_or(i64::MAX);
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params![account.as_str(), date.to_string(), after, fetch], |r| {
                    Ok((raw_entry(r)?, r.get::<_, bool>(ENTRY_COLUMNS.split(", ").count())?))
                })?;
                let mut applied = HashSet::new();
                let mut items = Vec::new();
                for row in rows {
                    let (raw, marked) = row?;
                    let entry = raw.parse()?;
                    if marked {
                        applied.insert(entry.id);
                    }
                    items.push(entry);
                }
                Ok(MarkedPage { page: EntryPage::from_fetched(items, limit), applied })
            })
            .await
    }

    async fn accounts(&self, after: Option<&AccountId>, limit: usize) -> Result<Vec<AccountId>, PortError> {
        let after = after.map(|a| a.as_str().to_owned()).unwrap_or_default();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.reader
            .call(move |conn| {
                let mut stmt = conn.prepare_cached("SELECT id FROM accounts WHERE id > ?1 ORDER BY id LIMIT ?2")?;
                let ids = stmt.query_map(params![after, limit], |r| r.get::<_, String>(0))?;
                ids.map(|id| AccountId::parse(&id?).map_err(|e| corrupt("account id", e))).collect()
            })
            .await
    }

    async fn entry_count(&self, account: &AccountId, date: Date) -> Result<i64, PortError> {
        let account = account.clone();
        self.reader
            .call(move |conn| {
                let sql = "SELECT COUNT(*) FROM entries WHERE account_id = ?1 AND business_date = ?2";
                Ok(conn.prepare_cached(sql)?.query_row(params![account.as_str(), date.to_string()], |r| r.get(0))?)
            })
            .await
    }

    async fn unapplied(&self, account: &AccountId, date: Date) -> Result<Vec<Posting>, PortError> {
        let account = account.clone();
        self.reader
            .call(move |conn| {
                let sql = format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries WHERE account_id = ?1 AND business_date = ?2 AND applied_at IS NULL ORDER BY id"
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params![account.as_str(), date.to_string()], raw_entry)?;
                rows.map(|r| r.map_err(PortError::from).and_then(RawEntry::parse).map(|e| e.posting())).collect()
            })
            .await
    }
}

#[async_trait]
impl Outbox for EmbeddedStore {
    async fn pending(&self, limit: usize) -> Result<Pending, PortError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.reader
            .call(move |conn| {
                let columns = ENTRY_COLUMNS.split(", ").map(|c| format!("e.{c}")).collect::<Vec<_>>().join(", ");
                let sql = format!(
                    "SELECT {columns}, o.position FROM outbox o JOIN entries e ON e.account_id = o.account_id AND e.id = o.entry_id ORDER BY o.position LIMIT ?1"
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map([limit], |r| Ok((raw_entry(r)?, r.get::<_, i64>(11)?)))?;
                let mut pending = Pending::default();
                for row in rows {
                    let (raw, position) = row?;
                    pending.postings.push(raw.parse()?.posting());
                    pending.position = u64::try_from(position).map_err(|e| corrupt("outbox position", e))?;
                }
                Ok(pending)
            })
            .await
    }

    async fn published(&self, position: u64) -> Result<(), PortError> {
        let position =
            i64::try_from(position).map_err(|e| PortError::failure("an outbox position out of range").caused_by(e))?;
        self.write(move |tx| Ok(tx.execute("DELETE FROM outbox WHERE position <= ?1", [position]).map(|_| ())?)).await
    }
}

#[async_trait]
impl BalanceStore for EmbeddedStore {
    #[tracing::instrument(name = "sqlite.apply", skip_all, fields(postings = postings.len()))]
    async fn apply(&self, postings: &[Posting], now: Timestamp) -> Result<Vec<Applied>, PortError> {
        let postings = postings.to_vec();
        self.write(move |conn| apply_postings(conn, &postings, now)).await
    }

    #[tracing::instrument(name = "sqlite.history", skip_all, fields(account_id = %account))]
    async fn history(&self, account: &AccountId, from: Date, to: Date) -> Result<BalanceHistory, PortError> {
        let account = account.clone();
        self.reader
            .call(move |conn| {
                let start = month_of(from);
                // One read transaction, so a consolidation committing in between cannot split the view.
                let tx = conn.transaction()?;
                let opening = prior_closing(&tx, &account, start)?;
                let days = days_between(&tx, &account, start, to)?;
                tx.commit()?;
                Ok(BalanceHistory { opening, days })
            })
            .await
    }

    #[tracing::instrument(name = "sqlite.rollups", skip_all, fields(account_id = %account))]
    async fn rollups(&self, account: &AccountId, from: Date, to: Date) -> Result<Rollups, PortError> {
        let account = account.clone();
        self.reader
            .call(move |conn| {
                let tx = conn.transaction()?;
                let prior_closing = prior_closing(&tx, &account, month_of(from))?;
                let days = days_between(&tx, &account, from, to)?;
                let last = month_of(to);
                let months = months_from(&tx, &account, month_of(from))?.into_iter().filter(|r| r.month <= last);
                let months = months.map(|r| (r.month, r)).collect();
                tx.commit()?;
                Ok(Rollups { prior_closing, days, months })
            })
            .await
    }
}

fn read_account(conn: &Connection, id: &AccountId) -> Result<Option<Account>, PortError> {
    let row = conn
        .prepare_cached("SELECT id, name, currency, timezone, created_at FROM accounts WHERE id = ?1")?
        .query_row([id.as_str()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .optional()?;
    let Some((id, name, currency, zone, created_at)) = row else { return Ok(None) };
    Ok(Some(Account {
        id: AccountId::parse(&id).map_err(|e| corrupt("account id", e))?,
        name: AccountName::parse(&name).map_err(|e| corrupt("account name", e))?,
        currency: Currency::parse(&currency).map_err(|e| corrupt("currency", e))?,
        zone: Zone::parse(&zone).map_err(|e| corrupt("time zone", e))?,
        created_at: parse_instant(&created_at).map_err(|e| corrupt("timestamp", e))?,
    }))
}

fn read_key(conn: &Connection, account: &AccountId, key: &IdempotencyKey) -> Result<Option<StoredResponse>, PortError> {
    let row = conn
        .prepare_cached("SELECT fingerprint, body, location FROM idempotency WHERE account_id = ?1 AND key = ?2")?
        .query_row(params![account.as_str(), key.as_str()], |r| {
            Ok(StoredResponse {
                fingerprint: Fingerprint::from_stored(r.get(0)?),
                body: r.get(1)?,
                location: r.get(2)?,
            })
        })
        .optional()?;
    Ok(row)
}

fn read_entry(conn: &Connection, account: &AccountId, id: &EntryId) -> Result<Option<Entry>, PortError> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE account_id = ?1 AND id = ?2");
    let raw = conn.prepare_cached(&sql)?.query_row(params![account.as_str(), id.to_string()], raw_entry).optional()?;
    raw.map(RawEntry::parse).transpose()
}

fn record_entry(tx: &Connection, new: &NewEntry) -> Result<Recorded, PortError> {
    let e = &new.entry;
    if let Some(stored) = read_key(tx, &e.account_id, &new.key)? {
        return Ok(Recorded::Existing(stored));
    }
    if let Some(original) = e.reverses {
        let marked = tx.execute(
            "UPDATE entries SET reversed_by = ?3 WHERE account_id = ?1 AND id = ?2 AND reversed_by IS NULL AND reverses IS NULL",
            params![e.account_id.as_str(), original.to_string(), e.id.to_string()],
        )?;
        if marked == 0 {
            let exists = read_entry(tx, &e.account_id, &original)?.is_some();
            return Ok(if exists { Recorded::AlreadyReversed } else { Recorded::OriginalMissing });
        }
    }
    tx.prepare_cached(&format!(
        "INSERT INTO entries ({ENTRY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?
    .execute(params![
        e.account_id.as_str(),
        e.id.to_string(),
        e.kind.as_str(),
        e.amount.minor(),
        e.currency.code(),
        e.description.as_ref().map(Description::as_str),
        e.occurred_at.to_string(),
        e.business_date.to_string(),
        e.recorded_at.to_string(),
        e.reverses.map(|id| id.to_string()),
        e.reversed_by.map(|id| id.to_string()),
    ])?;
    // The outbox row: relay publishes the posting from here, whatever happens after this commit.
    tx.prepare_cached("INSERT INTO outbox (account_id, entry_id) VALUES (?1, ?2)")?
        .execute(params![e.account_id.as_str(), e.id.to_string()])?;
    let r = &new.response;
    // `status` is always 201 and read by nothing; the column stays for the stores that have it.
    tx.prepare_cached("INSERT INTO idempotency (account_id, key, fingerprint, status, body, location) VALUES (?1, ?2, ?3, 201, ?4, ?5)")?
        .execute(params![e.account_id.as_str(), new.key.as_str(), r.fingerprint.as_str(), r.body, r.location])?;
    Ok(Recorded::New)
}

/// An entry row as stored, before parsing.
struct RawEntry {
    account_id: String,
    id: String,
    kind: String,
    amount: i64,
    currency: String,
    description: Option<String>,
    occurred_at: String,
    business_date: String,
    recorded_at: String,
    reverses: Option<String>,
    reversed_by: Option<String>,
}

fn raw_entry(r: &Row<'_>) -> rusqlite::Result<RawEntry> {
    Ok(RawEntry {
        account_id: r.get(0)?,
        id: r.get(1)?,
        kind: r.get(2)?,
        amount: r.get(3)?,
        currency: r.get(4)?,
        description: r.get(5)?,
        occurred_at: r.get(6)?,
        business_date: r.get(7)?,
        recorded_at: r.get(8)?,
        reverses: r.get(9)?,
        reversed_by: r.get(10)?,
    })
}

impl RawEntry {
    fn parse(self) -> Result<Entry, PortError> {
        let id = |raw: &str| EntryId::parse(raw).map_err(|e| corrupt("entry id", e));
        Ok(Entry {
            id: id(&self.id)?,
            account_id: AccountId::parse(&self.account_id).map_err(|e| corrupt("account id", e))?,
            kind: EntryType::parse(&self.kind).map_err(|e| corrupt("entry type", e))?,
            amount: Amount::from_minor(self.amount).map_err(|e| corrupt("amount", e))?,
            currency: Currency::parse(&self.currency).map_err(|e| corrupt("currency", e))?,
            description: self
                .description
                .as_deref()
                .map(Description::parse)
                .transpose()
                .map_err(|e| corrupt("description", e))?,
            occurred_at: parse_instant(&self.occurred_at).map_err(|e| corrupt("timestamp", e))?,
            business_date: parse_date(&self.business_date).map_err(|e| corrupt("date", e))?,
            recorded_at: parse_instant(&self.recorded_at).map_err(|e| corrupt("timestamp", e))?,
            reverses: self.reverses.as_deref().map(id).transpose()?,
            reversed_by: self.reversed_by.as_deref().map(id).transpose()?,
        })
    }
}
