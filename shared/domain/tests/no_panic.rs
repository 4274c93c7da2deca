#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Whatever a tenant stores (the API bounds it, but stored items outlive the API's
//! rules), the rules of shared dispatches never panic: the CourseKey window, the
//! follow-up window, P/L/A conversion and the delivery retry window are total over
//! every date the types can hold and every setting a u32 can carry.

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use domain::attendance::{ClassSession, Mark, convert, decide_adjustment, in_window};
use domain::connection::CourseKeySettings;
use domain::zone::TenantZone;
use proptest::prelude::*;

fn any_date() -> impl Strategy<Value = NaiveDate> {
    (NaiveDate::MIN.num_days_from_ce()..=NaiveDate::MAX.num_days_from_ce())
        .prop_map(|d| NaiveDate::from_num_days_from_ce_opt(d).unwrap())
}

fn any_instant() -> impl Strategy<Value = DateTime<Utc>> {
    (DateTime::<Utc>::MIN_UTC.timestamp()..=DateTime::<Utc>::MAX_UTC.timestamp())
        .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
}

fn any_settings() -> impl Strategy<Value = CourseKeySettings> {
    (
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(
            |(before, after, late_in, late_out, follow)| CourseKeySettings {
                weeks_before_start_to_enable: before,
                weeks_after_end_to_disable: after,
                absent_after_start_minutes: late_in,
                absent_before_end_minutes: late_out,
                follow_adjustments_days: follow,
                ..CourseKeySettings::default()
            },
        )
}

fn any_zone() -> impl Strategy<Value = TenantZone> {
    prop::sample::select(vec![
        "UTC",
        "Australia/Sydney",
        "America/Los_Angeles",
        "Pacific/Kiritimati",
        "Pacific/Pago_Pago",
    ])
    .prop_map(|z| TenantZone::parse(z).unwrap())
}

fn delivery_first_attempted(first: DateTime<Utc>) -> domain::delivery::Delivery {
    let key = domain::delivery::DeliveryKey {
        tenant: domain::TenantId::parse("acme").unwrap(),
        learner: domain::LearnerCode::parse("L1").unwrap(),
        offering: domain::OfferingId::parse("OCC-1").unwrap(),
        assessable: None,
        kind: domain::delivery::DeliveryKind::Result,
    };
    let mut delivery = domain::delivery::Delivery::new(
        &key,
        domain::ConnectionId::parse("sms").unwrap(),
        serde_json::Value::Null,
        DateTime::<Utc>::MIN_UTC + TimeDelta::days(1),
    );
    delivery.first_attempt_at = Some(first);
    delivery
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_coursekey_window_never_panics(
        start in any_date(), end in any_date(), today in any_date(), settings in any_settings()
    ) {
        let _ = in_window(Some(start), Some(end), today, &settings);
    }

    #[test]
    fn conversion_and_follow_up_never_panic(
        a in any_instant(), b in any_instant(), c in any_instant(), d in any_instant(),
        settings in any_settings(), zone in any_zone()
    ) {
        let class = ClassSession { code: "C1".into(), start: a.min(b), end: a.max(b) };
        let _ = convert(&class, Some(c), Some(d), &settings);
        let _ = convert(&class, Some(c), None, &settings);
        let _ = decide_adjustment(Mark::Absent, Mark::Present, &class, d, &settings, zone);
    }

    #[test]
    fn the_delivery_retry_window_never_panics(first in any_instant(), days in any::<u32>()) {
        let end = delivery_first_attempted(first).window_end(days);
        prop_assert!(end.is_some_and(|end| end >= first));
    }
}

#[test]
fn the_probes_values_are_handled() {
    // The values the outside probe stored: a billion weeks, an offering ending in +262142.
    let settings = CourseKeySettings {
        weeks_before_start_to_enable: 1_000_000_000,
        weeks_after_end_to_disable: 1_000_000_000,
        ..CourseKeySettings::default()
    };
    let far = NaiveDate::from_ymd_opt(262_142, 1, 1).unwrap();
    let today = NaiveDate::from_ymd_opt(2026, 12, 6).unwrap();
    assert_eq!(
        in_window(Some(today), Some(far), today, &settings),
        domain::attendance::WindowPosition::Inside
    );
}
