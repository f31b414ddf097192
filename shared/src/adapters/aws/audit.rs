//! What the audit reads of the table: a date's entries a page at a time with whether each is applied,
//! and an account's daily and monthly rollups over a range.
//!
//! An entry's applied mark is an item of its own in the entry's partition, or a slot pending in the
//! account's rollup lock (the marks of the latest round, until they are written), or, for entries
//! applied before marks were items, a flag on the entry item itself.

use std::collections::{BTreeMap, HashSet};

use jiff::civil::Date;

use super::dynamo::{DynamoStore, Query, values};
use super::item::{self, s};
use crate::domain::account::AccountId;
use crate::domain::audit::Rollups;
use crate::domain::calendar::month_of;
use crate::domain::entry::{Entry, EntryId};
use crate::ports::{EntryPage, MarkedPage, PortError};

impl DynamoStore {
    /// The ids of the applied entries among `entries` (all of one account): the rollup lock, the
    /// marks of the page in `BatchGetItem`s of up to 100 keys, and the entry items of the unmarked.
    pub(super) async fn applied_among(
        &self,
        account: &AccountId,
        entries: &[Entry],
    ) -> Result<HashSet<EntryId>, PortError> {
        if entries.is_empty() {
            return Ok(HashSet::new());
        }
        let lock = item::lock_from(self.get(item::lock_key(account)).await?.as_ref())?;
        let keys = entries.iter().map(|e| item::mark_key(account, e.id.slot())).collect();
        let mut marked = HashSet::new();
        for found in self.batch_get(keys, false).await? {
            marked.insert(item::get_s(&found, "SK")?.trim_start_matches(item::MARK_PREFIX).to_owned());
        }
        let (mut applied, unmarked): (HashSet<EntryId>, Vec<&Entry>) = {
            let (yes, no): (Vec<&Entry>, Vec<&Entry>) =
                entries.iter().partition(|e| lock.applied(e.id.slot(), &marked));
            (yes.into_iter().map(|e| e.id).collect(), no)
        };
        // Entries applied before marks were items of their own carry the mark in their own item.
        let keys = unmarked.iter().map(|e| item::entry_key(account, e.id.slot())).collect();
        for found in self.batch_get(keys, false).await? {
            let (id, stored) = item::stored_from(&found)?;
            if stored.applied {
                applied.insert(id);
            }
        }
        Ok(applied)
    }

    /// A page of a date's entries, with the applied among them.
    pub(super) async fn marked_page(&self, account: &AccountId, page: EntryPage) -> Result<MarkedPage, PortError> {
        let applied = self.applied_among(account, &page.items).await?;
        Ok(MarkedPage { page, applied })
    }

    /// The stored rollups of `from` to `to`: the closing of the month before, then two queries of
    /// the account's partition (the days, the months), each read to its end.
    pub(super) async fn rollups_between(
        &self,
        account: &AccountId,
        from: Date,
        to: Date,
    ) -> Result<Rollups, PortError> {
        let prior_closing = self.prior_closing(account, month_of(from)).await?;
        let days = self.between(account, item::day_sk(from), item::day_sk(to)).await?;
        let days = days.iter().map(item::day_from).collect::<Result<BTreeMap<_, _>, _>>()?;
        let months = self.between(account, item::month_sk(month_of(from)), item::month_sk(month_of(to))).await?;
        let months = months.iter().map(|i| item::month_from(i).map(|r| (r.month, r))).collect::<Result<_, _>>()?;
        Ok(Rollups { prior_closing, days, months })
    }

    async fn between(&self, account: &AccountId, lo: String, hi: String) -> Result<Vec<item::Item>, PortError> {
        let q = Query {
            index: None,
            condition: "PK = :pk AND SK BETWEEN :lo AND :hi",
            values: values(&[(":pk", s(item::pk(account))), (":lo", s(lo)), (":hi", s(hi))]),
            forward: true,
        };
        self.query(q, None).await
    }
}
