//! The ranges the API accepts for dates and settings, so that no value a tenant
//! can store reaches date arithmetic it could overflow (a panic there would stop
//! a dispatch that serves every tenant).

use chrono::{DateTime, NaiveDate, Utc};

/// The first day accepted for an offering, enrolment, class or result date.
pub const EARLIEST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
/// The last day accepted.
pub const LATEST_DATE: NaiveDate = match NaiveDate::from_ymd_opt(2199, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

/// Why a value is out of range: says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OutOfRange(pub String);

/// A calendar day between [`EARLIEST_DATE`] and [`LATEST_DATE`].
pub fn check_date(date: NaiveDate) -> Result<(), OutOfRange> {
    if (EARLIEST_DATE..=LATEST_DATE).contains(&date) {
        Ok(())
    } else {
        Err(OutOfRange(format!(
            "dates from {EARLIEST_DATE} to {LATEST_DATE} are accepted"
        )))
    }
}

/// An instant within [`check_date`]'s range (its UTC day: a bound, not a person's date).
pub fn check_instant(at: DateTime<Utc>) -> Result<(), OutOfRange> {
    check_date(at.date_naive())
}

/// An integer setting between `min` and `max`, both included.
pub fn check_setting(value: u32, min: u32, max: u32) -> Result<(), OutOfRange> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(OutOfRange(format!("between {min} and {max}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_outside_1900_to_2199_are_refused() {
        let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN);
        assert!(check_date(d(1900, 1, 1)).is_ok());
        assert!(check_date(d(2199, 12, 31)).is_ok());
        assert!(check_date(d(1899, 12, 31)).is_err());
        assert!(check_date(d(2200, 1, 1)).is_err());
        assert!(check_date(NaiveDate::MAX).is_err());
        assert!(check_instant(DateTime::<Utc>::MAX_UTC).is_err());
        assert_eq!(
            check_setting(1_000_000_000, 0, 104),
            Err(OutOfRange("between 0 and 104".into()))
        );
    }
}
