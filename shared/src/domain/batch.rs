//! A batch of entries recorded by one request: how many it may hold, and the rule that each of its
//! entries carries an idempotency key of its own.

use std::collections::HashMap;

use super::idempotency::IdempotencyKey;

/// The most entries one batch holds: a point-of-sale day in a few requests, and a request that one
/// Lambda invocation records well within API Gateway's 29-second limit.
pub const ENTRIES_MAX: usize = 500;

/// Why a batch is refused as a whole, before anything of it is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchRefused {
    #[error("must hold at least one entry")]
    Empty,
    #[error("holds {0} entries; a batch holds at most {ENTRIES_MAX}")]
    TooMany(usize),
    /// Each pair is the index of an entry and the index of the earlier entry whose key it repeats.
    #[error("repeats idempotency keys within the batch")]
    DuplicateKeys(Vec<(usize, usize)>),
}

/// Checks a batch's size and that no key appears twice in it. `keys` holds one item per entry, in
/// order: `None` for an entry whose key could not be read (that entry is refused on its own).
///
/// # Errors
/// [`BatchRefused`]: an empty batch, one over [`ENTRIES_MAX`], or keys repeated within it.
pub fn check<'a>(keys: impl ExactSizeIterator<Item = Option<&'a IdempotencyKey>>) -> Result<(), BatchRefused> {
    match keys.len() {
        0 => return Err(BatchRefused::Empty),
        n if n > ENTRIES_MAX => return Err(BatchRefused::TooMany(n)),
        _ => {}
    }
    let mut first_seen: HashMap<&IdempotencyKey, usize> = HashMap::with_capacity(keys.len());
    let mut repeats = Vec::new();
    for (at, key) in keys.enumerate() {
        let Some(key) = key else { continue };
        if let Some(&first) = first_seen.get(key) {
            repeats.push((at, first));
        } else {
            first_seen.insert(key, at);
        }
    }
    if repeats.is_empty() { Ok(()) } else { Err(BatchRefused::DuplicateKeys(repeats)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(raw: &[&str]) -> Vec<IdempotencyKey> {
        raw.iter().map(|k| IdempotencyKey::parse(k).expect("key")).collect()
    }

    #[test]
    fn a_batch_holds_one_to_the_maximum_entries() {
        assert_eq!(check(std::iter::empty()), Err(BatchRefused::Empty));
        let many: Vec<IdempotencyKey> =
            (0..=ENTRIES_MAX).map(|i| IdempotencyKey::parse(&format!("k{i}")).expect("key")).collect();
        assert_eq!(check(many[..ENTRIES_MAX].iter().map(Some)), Ok(()));
        assert_eq!(check(many.iter().map(Some)), Err(BatchRefused::TooMany(ENTRIES_MAX + 1)));
    }

    #[test]
    fn every_repeated_key_is_named_with_its_first_use() {
        let k = keys(&["a", "b", "a", "c", "b", "a"]);
        let refused = check(k.iter().map(Some));
        assert_eq!(refused, Err(BatchRefused::DuplicateKeys(vec![(2, 0), (4, 1), (5, 0)])));
    }

    #[test]
    fn entries_without_a_readable_key_are_left_to_be_refused_alone() {
        let k = keys(&["a", "b"]);
        assert_eq!(check([Some(&k[0]), None, None, Some(&k[1])].into_iter()), Ok(()));
    }
}
