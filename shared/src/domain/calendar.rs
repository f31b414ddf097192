//! Business dates: the calendar day an entry belongs to, seen in its account's time zone, and the
//! window in which an entry may have occurred.

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp, ToSpan};

use super::Invalid;
use super::account::Zone;

/// How far ahead of the clock an entry may say it occurred (clock skew between merchant and ledger).
pub const FUTURE_SKEW_MAX: SignedDuration = SignedDuration::from_mins(5);
/// How far back an entry may be backdated. Older days are closed.
pub const BACKDATE_MAX: SignedDuration = SignedDuration::from_hours(31 * 24);
/// The longest inclusive range of days one balance request may span (a leap year).
pub const RANGE_DAYS_MAX: i32 = 366;

/// Parses a calendar date written exactly as `YYYY-MM-DD`.
///
/// # Errors
/// On any other shape or an impossible date such as `2026-02-30`.
pub fn parse_date(raw: &str) -> Result<Date, Invalid> {
    let shaped = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return Err(Invalid::new("must be a date written as YYYY-MM-DD"));
    }
    raw.parse::<Date>().map_err(|_| Invalid::new("is not a calendar date"))
}

/// Parses an RFC 3339 timestamp that carries its UTC offset, e.g. `2026-11-23T09:30:00-03:00`.
///
/// # Errors
/// When the text is not RFC 3339 or lacks an offset.
pub fn parse_instant(raw: &str) -> Result<Timestamp, Invalid> {
    if !rfc3339_shaped(raw) {
        return Err(Invalid::new("must be an RFC 3339 timestamp with an offset, e.g. 2026-11-23T09:30:00-03:00"));
    }
    raw.parse::<Timestamp>()
        .map_err(|_| Invalid::new("must be an RFC 3339 timestamp with an offset, e.g. 2026-11-23T09:30:00-03:00"))
}

/// Whether `raw` has the shape of an RFC 3339 `date-time` (section 5.6): `YYYY-MM-DDThh:mm:ss`, an
/// optional fraction, then `Z` or `+hh:mm`/`-hh:mm` with an hour below 24 (`T` and `Z` in either case).
/// jiff reads a wider ISO 8601 and Temporal syntax (no seconds, `-03` offsets, the basic format, `[zone]`
/// annotations) that the contract does not promise, so the shape is checked first; jiff then checks
/// the ranges of the fields.
fn rfc3339_shaped(raw: &str) -> bool {
    let b = raw.as_bytes();
    let digits = |from: usize, to: usize| b.get(from..to).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let date_time = digits(0, 4)
        && b.get(4) == Some(&b'-')
        && digits(5, 7)
        && b.get(7) == Some(&b'-')
        && digits(8, 10)
        && matches!(b.get(10), Some(b'T' | b't'))
        && digits(11, 13)
        && b.get(13) == Some(&b':')
        && digits(14, 16)
        && b.get(16) == Some(&b':')
        && digits(17, 19);
    if !date_time {
        return false;
    }
    let mut offset = &b[19..];
    if let [b'.', fraction @ ..] = offset {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 {
            return false;
        }
        offset = &fraction[len..];
    }
    match offset {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) && (*h1, *h2) <= (b'2', b'3')
        }
        _ => false,
    }
}

/// Checks that an entry's `occurred_at` lies in the accepted window around `now`.
///
/// # Errors
/// When it is more than five minutes ahead of `now` or more than 31 days behind it.
pub fn check_occurred_at(occurred_at: Timestamp, now: Timestamp) -> Result<(), Invalid> {
    let ahead = occurred_at.duration_since(now);
    if ahead > FUTURE_SKEW_MAX {
        return Err(Invalid::new("must not be more than 5 minutes in the future"));
    }
    if -ahead > BACKDATE_MAX {
        return Err(Invalid::new("must not be more than 31 days in the past"));
    }
    Ok(())
}

/// The business date of an instant for an account: its calendar date in the account's zone.
pub fn business_date(at: Timestamp, zone: &Zone) -> Date {
    zone.tz().to_datetime(at).date()
}

/// The first day of the month holding `date`; monthly rollups are keyed by it.
pub fn month_of(date: Date) -> Date {
    date.first_of_month()
}

/// A validated inclusive range of dates, at most [`RANGE_DAYS_MAX`] days long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    from: Date,
    to: Date,
}

impl DateRange {
    /// Builds a range.
    ///
    /// # Errors
    /// When `to` is before `from` or the range holds more than 366 days.
    pub fn new(from: Date, to: Date) -> Result<Self, Invalid> {
        if to < from {
            return Err(Invalid::new("`to` must not be before `from`"));
        }
        let days = from.until(to).map_err(|_| Invalid::new("range is out of bounds"))?.get_days();
        if days + 1 > RANGE_DAYS_MAX {
            return Err(Invalid::new("a range may span at most 366 days"));
        }
        Ok(Self { from, to })
    }

    pub fn from(self) -> Date {
        self.from
    }

    pub fn to(self) -> Date {
        self.to
    }

    /// Every date of the range, in order.
    pub fn days(self) -> impl Iterator<Item = Date> {
        self.from.series(1.day()).take_while(move |d| *d <= self.to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(raw: &str) -> Timestamp {
        parse_instant(raw).expect("test timestamp")
    }

    #[test]
    fn dates_must_be_exactly_iso() {
        assert!(parse_date("2026-11-23").is_ok());
        for bad in ["20261123", "2026-2-01", "2026-02-30", "2026-11-23T00:00", " 2026-11-23", "+02026-11-23"] {
            assert!(parse_date(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn instants_need_an_offset() {
        assert!(parse_instant("2026-11-23T09:30:00-03:00").is_ok());
        assert!(parse_instant("2026-11-23T12:30:00.123456Z").is_ok());
        for bad in [
            "2026-11-23T09:30:00",
            "2026-11-23",
            "yesterday",
            "2026-11-23T09:30:00Z[America/Sao_Paulo]",
            // ISO 8601 and Temporal forms outside RFC 3339, which jiff alone would read.
            "2026-11-23T09:00-03:00",
            "2026-11-23T09:30:00-03",
            "2026-11-23 09:30:00-03:00",
            "20261123T093000.000-0300",
            "+002026-11-23T09:30:00Z",
            "2026-11-23T09:30:00,5Z",
            "2026-11-23T09:30:00+24:00",
        ] {
            assert!(parse_instant(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn business_date_follows_the_account_zone() {
        let zone = Zone::parse("America/Sao_Paulo").expect("zone");
        // 01:30 UTC on the 24th is still 22:30 on the 23rd in São Paulo.
        let date = business_date(ts("2026-11-24T01:30:00Z"), &zone);
        assert_eq!(date, jiff::civil::date(2026, 11, 23));
    }

    #[test]
    fn occurred_at_window_is_five_minutes_ahead_and_31_days_back() {
        let now = ts("2026-11-23T12:00:00Z");
        assert!(check_occurred_at(ts("2026-11-23T12:05:00Z"), now).is_ok());
        assert!(check_occurred_at(ts("2026-11-23T12:05:01Z"), now).is_err());
        assert!(check_occurred_at(ts("2026-10-23T12:00:00Z"), now).is_ok());
        assert!(check_occurred_at(ts("2026-10-23T11:59:59Z"), now).is_err());
    }

    #[test]
    fn ranges_are_ordered_and_at_most_366_days() {
        let d = |m, day| jiff::civil::date(2024, m, day);
        assert_eq!(DateRange::new(d(1, 1), d(12, 31)).map(|r| r.days().count()), Ok(366));
        assert!(DateRange::new(d(1, 2), d(1, 1)).is_err());
        assert!(DateRange::new(jiff::civil::date(2023, 12, 31), d(12, 31)).is_err());
    }
}
