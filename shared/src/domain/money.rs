//! Money as integer minor units. Never floating point; every sum is checked and fails loudly.

use super::Invalid;

/// The amount of one entry in minor units (cents for BRL): 1 to 10^14 inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    pub const MAX_MINOR: i64 = 100_000_000_000_000;

    /// Parses an amount in minor units.
    ///
    /// # Errors
    /// When the amount is zero, negative or above 10^14.
    pub fn from_minor(minor: i64) -> Result<Self, Invalid> {
        if (1..=Self::MAX_MINOR).contains(&minor) {
            Ok(Self(minor))
        } else {
            Err(Invalid::new("must be an integer number of minor units from 1 to 100000000000000"))
        }
    }

    pub fn minor(self) -> i64 {
        self.0
    }
}

/// A sum left the range the ledger can hold. Balances are `i64` minor units: about 9.2 * 10^18.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("balance arithmetic overflowed the i64 range of minor units")]
pub struct Overflow;

/// Adds two balances, failing on overflow.
pub fn add(a: i64, b: i64) -> Result<i64, Overflow> {
    a.checked_add(b).ok_or(Overflow)
}

/// Subtracts `b` from `a`, failing on overflow.
pub fn sub(a: i64, b: i64) -> Result<i64, Overflow> {
    a.checked_sub(b).ok_or(Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_bounded_on_both_sides() {
        assert_eq!(Amount::from_minor(1).map(Amount::minor), Ok(1));
        assert_eq!(Amount::from_minor(Amount::MAX_MINOR).map(Amount::minor), Ok(Amount::MAX_MINOR));
        for bad in [0, -1, Amount::MAX_MINOR + 1, i64::MIN, i64::MAX] {
            assert!(Amount::from_minor(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn sums_fail_instead_of_wrapping() {
        assert_eq!(add(i64::MAX, 1), Err(Overflow));
        assert_eq!(sub(i64::MIN, 1), Err(Overflow));
        assert_eq!(add(2, -3), Ok(-1));
    }
}
