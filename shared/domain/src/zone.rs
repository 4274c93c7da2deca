//! A tenant's time zone, and every conversion between the instants external
//! systems send (Moodle's Unix epochs, CourseKey's RFC 3339 times, the clock)
//! and the calendar days people mean (an offering's start date, a result's
//! finish date, "today").
//!
//! A date is a day in the tenant's zone (an IANA name such as
//! `Australia/Sydney`, from the tz database through chrono-tz): never the UTC
//! calendar of an instant. A tenant that set no zone is in UTC.
//!
//! "Local midnight" of a day is the first instant of that day in the zone. On
//! the few days where midnight does not exist (a daylight-saving change at
//! midnight, as in America/Santiago or America/Havana, where the clock jumps
//! from 00:00 to 01:00), it is the instant the day begins: the change itself.
//! Where midnight happens twice (a fall-back at midnight), it is the earlier.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A tenant's time zone: an IANA name known to the tz database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantZone(Tz);

/// A name the tz database does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a time zone of the IANA tz database; use a name such as Australia/Sydney, Europe/Amsterdam or America/Los_Angeles"
)]
pub struct UnknownZone(pub String);

impl TenantZone {
    /// UTC: the zone of a tenant that set none.
    pub const UTC: Self = Self(Tz::UTC);

    /// The zone with this IANA name (exactly as the tz database spells it).
    pub fn parse(name: &str) -> Result<Self, UnknownZone> {
        Tz::from_str(name.trim())
            .map(Self)
            .map_err(|_| UnknownZone(name.to_owned()))
    }

    /// The zone's IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The calendar day an instant falls on in this zone.
    pub fn date_of(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }

    /// The calendar day of a Moodle time (a Unix epoch); Moodle's `0` (and any
    /// time before 1970) means "not set": none.
    pub fn date_of_epoch(&self, epoch: i64) -> Option<NaiveDate> {
        if epoch <= 0 {
            return None;
        }
        DateTime::<Utc>::from_timestamp(epoch, 0).map(|at| self.date_of(at))
    }

    /// Today in this zone, at the instant `now`.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        self.date_of(now)
    }

    /// Local midnight: the first instant of `day` in this zone (see the module
    /// documentation for days without a midnight).
    pub fn start_of_day(&self, day: NaiveDate) -> DateTime<Utc> {
        self.first_instant_at_or_after(day.and_time(NaiveTime::MIN))
    }

    /// The last second of `day` in this zone (one second before the next day's
    /// local midnight): what Moodle needs as a course's end date for the course
    /// to be in progress through its last day.
    pub fn end_of_day(&self, day: NaiveDate) -> DateTime<Utc> {
        match day.succ_opt() {
            Some(next) => self.start_of_day(next) - TimeDelta::seconds(1),
            None => self.start_of_day(day),
        }
    }

    /// [`Self::start_of_day`] as a Unix epoch (Moodle's `timestart`, `startdate`).
    pub fn epoch_of_day(&self, day: NaiveDate) -> i64 {
        self.start_of_day(day).timestamp()
    }

    /// The instant at a local date and time of day; a time skipped by a
    /// daylight-saving change becomes the first instant after the gap, a time
    /// that happens twice the earlier one.
    pub fn at(&self, day: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
        self.first_instant_at_or_after(day.and_time(time))
    }

    /// The same instant's local time of day.
    pub fn time_of(&self, at: DateTime<Utc>) -> NaiveTime {
        at.with_timezone(&self.0).time()
    }

    fn first_instant_at_or_after(&self, local: NaiveDateTime) -> DateTime<Utc> {
        // A gap is at most a few hours, and tz changes fall on whole minutes
        // (every change since 1970): the first local minute that exists is the
        // change itself.
        (0..=24 * 60)
            .find_map(|minute| {
                self.0
                    .from_local_datetime(&(local + TimeDelta::minutes(minute)))
                    .earliest()
            })
            .map_or_else(|| local.and_utc(), |at| at.with_timezone(&Utc))
    }
}

impl Default for TenantZone {
    fn default() -> Self {
        Self::UTC
    }
}

impl fmt::Display for TenantZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for TenantZone {
    type Error = UnknownZone;
    fn try_from(name: String) -> Result<Self, UnknownZone> {
        Self::parse(&name)
    }
}

impl From<TenantZone> for String {
    fn from(zone: TenantZone) -> Self {
        zone.name().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TenantZone {
        TenantZone::parse(name).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn names_are_the_tz_databases_and_unknown_ones_are_refused() {
        assert_eq!(zone("Australia/Sydney").name(), "Australia/Sydney");
        assert_eq!(zone("UTC"), TenantZone::UTC);
        assert_eq!(TenantZone::default(), TenantZone::UTC);
        for bad in [
            "",
            "Sydney",
            "Australia/Sidney",
            "+10:00",
            "AEST+10",
            "Mars/Olympus",
        ] {
            assert_eq!(
                TenantZone::parse(bad),
                Err(UnknownZone(bad.into())),
                "{bad}"
            );
        }
        let json = serde_json::to_string(&zone("Europe/Amsterdam")).unwrap();
        assert_eq!(json, "\"Europe/Amsterdam\"");
        assert!(serde_json::from_str::<TenantZone>("\"Nowhere/Land\"").is_err());
    }

    /// The recorded Sydney site's example, and the same instant elsewhere.
    #[test]
    fn a_moodle_epoch_is_the_day_of_the_tenants_zone() {
        let table = [
            (1_796_130_600, "Australia/Sydney", Some(day(2026, 12, 2))),
            (1_796_130_600, "UTC", Some(day(2026, 12, 1))),
            (1_796_130_600, "Europe/Madrid", Some(day(2026, 12, 1))),
            (1_796_130_600, "America/Los_Angeles", Some(day(2026, 12, 1))),
            (0, "Australia/Sydney", None),
            (-5, "UTC", None),
        ];
        for (epoch, name, want) in table {
            assert_eq!(zone(name).date_of_epoch(epoch), want, "{epoch} in {name}");
        }
    }

    /// An evening class in Los Angeles is on the next day in UTC.
    #[test]
    fn west_of_utc_an_evening_is_still_the_local_day() {
        let la = zone("America/Los_Angeles");
        let class = utc("2026-11-18T03:30:00Z"); // 19:30 PST on 17 November
        assert_eq!(la.date_of(class), day(2026, 11, 17));
        assert_eq!(TenantZone::UTC.date_of(class), day(2026, 11, 18));
        assert_eq!(
            la.start_of_day(day(2026, 11, 17)),
            utc("2026-11-17T08:00:00Z")
        );
        assert_eq!(la.today(class), day(2026, 11, 17));
        // Summer time: UTC-7.
        assert_eq!(
            la.start_of_day(day(2026, 7, 1)),
            utc("2026-07-01T07:00:00Z")
        );
    }

    #[test]
    fn local_midnight_as_moodle_epochs() {
        let table = [
            // An enrolment starting on 2 December in Sydney starts at 00:00 AEDT (UTC+11).
            ("Australia/Sydney", day(2026, 12, 2), "2026-12-01T13:00:00Z"),
            // Winter in Sydney: AEST (UTC+10).
            ("Australia/Sydney", day(2026, 7, 1), "2026-06-30T14:00:00Z"),
            ("UTC", day(2026, 12, 2), "2026-12-02T00:00:00Z"),
            ("Europe/Amsterdam", day(2026, 12, 2), "2026-12-01T23:00:00Z"),
        ];
        for (name, d, want) in table {
            let z = zone(name);
            assert_eq!(z.start_of_day(d), utc(want), "{d} in {name}");
            assert_eq!(z.epoch_of_day(d), utc(want).timestamp());
            assert_eq!(z.date_of_epoch(z.epoch_of_day(d)), Some(d), "round trip");
            assert_eq!(z.date_of(z.end_of_day(d)), d, "end of {d} in {name}");
            assert_eq!(
                z.end_of_day(d) + TimeDelta::seconds(1),
                z.start_of_day(d.succ_opt().unwrap())
            );
        }
    }

    /// Sydney changes at 02:00 (first Sunday of October forward, of April back):
    /// midnight exists, the day is 23 or 25 hours long.
    #[test]
    fn sydneys_daylight_saving_days() {
        let syd = zone("Australia/Sydney");
        let forward = day(2026, 10, 4);
        assert_eq!(syd.start_of_day(forward), utc("2026-10-03T14:00:00Z"));
        assert_eq!(
            syd.start_of_day(forward.succ_opt().unwrap()) - syd.start_of_day(forward),
            TimeDelta::hours(23)
        );
        let back = day(2026, 4, 5);
        assert_eq!(syd.start_of_day(back), utc("2026-04-04T13:00:00Z"));
        assert_eq!(
            syd.start_of_day(back.succ_opt().unwrap()) - syd.start_of_day(back),
            TimeDelta::hours(25)
        );
        // 02:30 does not exist on the forward day: the first instant after the gap, 03:00.
        let skipped = syd.at(forward, NaiveTime::from_hms_opt(2, 30, 0).unwrap());
        assert_eq!(skipped, utc("2026-10-03T16:00:00Z"));
        assert_eq!(syd.date_of(skipped), forward);
        // 02:30 happens twice on the back day: the earlier one (still summer time).
        let twice = syd.at(back, NaiveTime::from_hms_opt(2, 30, 0).unwrap());
        assert_eq!(twice, utc("2026-04-04T15:30:00Z"));
    }

    /// Where the change is at midnight the day has no 00:00: its local
    /// midnight is the first instant of the day, 01:00 after the change.
    #[test]
    fn a_day_without_midnight_starts_at_the_change() {
        // Chile: 6 September 2026, 00:00 -04 becomes 01:00 -03.
        let santiago = zone("America/Santiago");
        let change = day(2026, 9, 6);
        let start = santiago.start_of_day(change);
        assert_eq!(start, utc("2026-09-06T04:00:00Z"));
        assert_eq!(santiago.date_of(start), change);
        assert_eq!(
            santiago.date_of(start - TimeDelta::seconds(1)),
            day(2026, 9, 5)
        );
        assert_eq!(
            santiago.end_of_day(day(2026, 9, 5)),
            start - TimeDelta::seconds(1)
        );
        // Cuba: 8 March 2026, 00:00 CST becomes 01:00 CDT.
        let havana = zone("America/Havana");
        let start = havana.start_of_day(day(2026, 3, 8));
        assert_eq!(start, utc("2026-03-08T05:00:00Z"));
        assert_eq!(havana.date_of(start), day(2026, 3, 8));
        assert_eq!(
            havana.date_of(start - TimeDelta::seconds(1)),
            day(2026, 3, 7)
        );
        // Santiago's fall-back (5 April 2026, 00:00 -03 becomes 23:00 -04 the
        // day before): midnight once, the day before is 25 hours long.
        let back = day(2026, 4, 5);
        assert_eq!(santiago.start_of_day(back), utc("2026-04-05T04:00:00Z"));
        assert_eq!(
            santiago.start_of_day(back) - santiago.start_of_day(day(2026, 4, 4)),
            TimeDelta::hours(25)
        );
    }
}
