use super::*;
use chrono::TimeZone;
use serde_json::json;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 6, 0, 0).unwrap()
}

fn key() -> DeliveryKey {
    DeliveryKey {
        tenant: TenantId::parse("acme").unwrap(),
        learner: LearnerCode::parse("L001").unwrap(),
        offering: OfferingId::parse("OFF-1").unwrap(),
        assessable: Some(AssessableId::parse("BSBWHS211").unwrap()),
        kind: DeliveryKind::Result,
    }
}

fn delivery() -> Delivery {
    Delivery::new(
        &key(),
        ConnectionId::parse("sms").unwrap(),
        json!({"grade": "7.5"}),
        t0(),
    )
}

fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> SendResult {
    SendResult::Answered(SmsAnswer {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        body: body.to_owned(),
    })
}

#[test]
fn ids_derive_from_the_key_and_are_valid_ids() {
    let k = key();
    assert_eq!(k.idempotency_key(), "acme:result:L001:OFF-1:BSBWHS211");
    let id = k.delivery_id();
    assert_eq!(id, key().delivery_id(), "stable");
    assert!(DeliveryId::parse(id.as_str()).is_ok());
    assert_eq!(id.as_str().len(), 36);
    let mut other = key();
    other.kind = DeliveryKind::Completion;
    assert_ne!(other.delivery_id(), id);
    other = key();
    other.assessable = None;
    assert_eq!(other.idempotency_key(), "acme:result:L001:OFF-1:-");
    assert_ne!(other.delivery_id(), id);
    other = key();
    other.tenant = TenantId::parse("acme2").unwrap();
    assert_ne!(other.delivery_id(), id, "tenants never share an id");
}

#[test]
fn answers_are_classified_as_the_issue_says() {
    struct Case {
        result: SendResult,
        expect: &'static str,
    }
    let cases = [
        Case {
            result: answer(200, &[], "ok"),
            expect: "delivered",
        },
        Case {
            result: answer(201, &[], ""),
            expect: "delivered",
        },
        Case {
            result: answer(204, &[], ""),
            expect: "delivered",
        },
        Case {
            result: answer(404, &[], "learner not recognised"),
            expect: "next_day",
        },
        Case {
            result: answer(404, &[], ""),
            expect: "next_day",
        },
        Case {
            result: answer(422, &[], "Course NOT RECOGNIZED"),
            expect: "next_day",
        },
        Case {
            result: answer(400, &[], "deelnemer niet herkend"),
            expect: "next_day",
        },
        Case {
            result: answer(400, &[], "grade must be a number"),
            expect: "failed",
        },
        Case {
            result: answer(409, &[], "conflict"),
            expect: "failed",
        },
        Case {
            result: answer(401, &[], "bad signature"),
            expect: "misconfigured",
        },
        Case {
            result: answer(403, &[], ""),
            expect: "misconfigured",
        },
        Case {
            result: answer(301, &[], ""),
            expect: "misconfigured",
        },
        Case {
            result: answer(429, &[("Retry-After", "120")], ""),
            expect: "soon",
        },
        Case {
            result: answer(500, &[], "boom"),
            expect: "soon",
        },
        Case {
            result: answer(503, &[], ""),
            expect: "soon",
        },
        Case {
            result: SendResult::TimedOut,
            expect: "soon",
        },
        Case {
            result: SendResult::Unreachable,
            expect: "soon",
        },
    ];
    for case in cases {
        let got = match classify(&case.result, 0, t0()) {
            Verdict::Delivered => "delivered",
            Verdict::RetryNextDay { .. } => "next_day",
            Verdict::RetrySoon { .. } => "soon",
            Verdict::Failed { .. } => "failed",
            Verdict::Misconfigured { .. } => "misconfigured",
        };
        assert_eq!(got, case.expect, "{:?}", case.result);
    }
}

#[test]
fn a_permanent_refusal_keeps_the_sms_message() {
    let Verdict::Failed { reason } =
        classify(&answer(400, &[], "grade must be\na number"), 0, t0())
    else {
        panic!("failed")
    };
    assert_eq!(
        reason,
        "the SMS refused the delivery (HTTP 400): grade must be a number"
    );
    let long = "x".repeat(1000);
    let Verdict::Failed { reason } = classify(&answer(400, &[], &long), 0, t0()) else {
        panic!("failed")
    };
    assert!(reason.len() < 400, "the SMS's message is cut short");
}

#[test]
fn rate_limits_honour_retry_after_and_reset_headers() {
    let wait = |headers: &[(&str, &str)]| match classify(&answer(429, headers, ""), 0, t0()) {
        Verdict::RetrySoon { after, .. } => after,
        other => panic!("{other:?}"),
    };
    assert_eq!(wait(&[("retry-after", "900")]), TimeDelta::seconds(900));
    assert_eq!(
        wait(&[("Retry-After", "Mon, 23 Nov 2026 07:00:00 GMT")]),
        TimeDelta::hours(1)
    );
    assert_eq!(wait(&[("RateLimit-Reset", "600")]), TimeDelta::minutes(10));
    let epoch = (t0() + TimeDelta::minutes(30)).timestamp().to_string();
    assert_eq!(
        wait(&[("X-RateLimit-Reset", epoch.as_str())]),
        TimeDelta::minutes(30)
    );
    assert_eq!(wait(&[]), SAME_DAY_FIRST_DELAY, "no header: our backoff");
    assert_eq!(
        wait(&[("retry-after", "1")]),
        SAME_DAY_FIRST_DELAY,
        "never sooner than our backoff"
    );
    assert_eq!(wait(&[("retry-after", "999999")]), TimeDelta::days(1));
}

#[test]
fn same_day_backoff_doubles_up_to_two_hours() {
    let got: Vec<i64> = (0..7).map(|n| same_day_backoff(n).num_minutes()).collect();
    assert_eq!(got, [5, 10, 20, 40, 80, 120, 120]);
}

#[test]
fn transitions_after_an_attempt() {
    let now = t0();
    let claimed = claim(&delivery(), now);
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.first_attempt_at, Some(now));
    assert!(!claimed.is_due(now + TimeDelta::minutes(4)), "leased");

    let t = after_attempt(&claimed, &Verdict::Delivered, now);
    assert_eq!(t.delivery.state, DeliveryState::Delivered);
    assert_eq!(t.delivery.delivered_at, Some(now));

    let t = after_attempt(&claimed, &Verdict::RetryNextDay { reason: "x".into() }, now);
    assert_eq!(t.delivery.state, DeliveryState::Pending);
    assert_eq!(t.delivery.next_attempt_at, now + DAILY_RETRY_GAP);
    assert!(
        !t.delivery.is_due(now + TimeDelta::hours(11)),
        "not twice a day"
    );
    assert!(
        t.delivery.is_due(now + TimeDelta::days(1)),
        "tomorrow's run"
    );

    let t = after_attempt(
        &claimed,
        &Verdict::Failed {
            reason: "bad grade".into(),
        },
        now,
    );
    assert_eq!(t.delivery.state, DeliveryState::Failed);
    assert_eq!(t.delivery.last_error.as_deref(), Some("bad grade"));
    assert_eq!(t.notice, None);

    let t = after_attempt(
        &claimed,
        &Verdict::Misconfigured {
            reason: "401".into(),
        },
        now,
    );
    assert_eq!(t.delivery.state, DeliveryState::Paused);
    assert_eq!(t.notice, Some(Notice::Paused));
}

#[test]
fn transient_failures_back_off_the_same_day_then_wait_for_the_daily_run() {
    let mut d = delivery();
    let mut now = t0();
    let mut waits = Vec::new();
    for _ in 0..7 {
        d = claim(&d, now);
        let verdict = classify(&answer(503, &[], ""), d.same_day_retries, now);
        d = after_attempt(&d, &verdict, now).delivery;
        waits.push((d.next_attempt_at - now).num_minutes());
        now = d.next_attempt_at;
    }
    assert_eq!(waits, [5, 10, 20, 40, 80, 12 * 60, 5]);
}

#[test]
fn the_window_is_thirty_days_from_the_first_attempt() {
    let now = t0();
    let d = after_attempt(
        &claim(&delivery(), now),
        &Verdict::RetryNextDay {
            reason: "learner not recognised".into(),
        },
        now,
    )
    .delivery;
    assert_eq!(
        expire_if_past_window(&d, now + TimeDelta::days(29), 30),
        None
    );
    assert_eq!(
        expire_if_past_window(&d, now + TimeDelta::days(30) - TimeDelta::seconds(1), 30),
        None
    );
    let t = expire_if_past_window(&d, now + TimeDelta::days(30), 30).unwrap();
    assert_eq!(t.delivery.state, DeliveryState::Expired);
    assert_eq!(t.notice, Some(Notice::Expired));
    assert_eq!(
        t.delivery.last_error.as_deref(),
        Some("expired after 30 days of retries; last error: learner not recognised")
    );
    assert_eq!(
        expire_if_past_window(&delivery(), now + TimeDelta::days(99), 30),
        None,
        "never attempted: no window yet"
    );
}

#[test]
fn a_started_result_is_its_own_message_so_the_final_one_still_goes() {
    let now = t0();
    let started_key = DeliveryKey {
        kind: DeliveryKind::Started,
        ..key()
    };
    assert_ne!(started_key.idempotency_key(), key().idempotency_key());
    assert!(started_key.idempotency_key().contains(":started:"));
    let started = Delivery::new(
        &started_key,
        ConnectionId::parse("sms").unwrap(),
        json!({"result": "started"}),
        now,
    );
    let delivered = after_attempt(&claim(&started, now), &Verdict::Delivered, now).delivery;
    assert_eq!(delivered.state, DeliveryState::Delivered);
    // The passed result has its own key: nothing delivered under it yet.
    assert_ne!(delivered.id, key().delivery_id());
}

#[test]
fn first_result_wins() {
    let now = t0();
    let first = delivery();
    let later = json!({"grade": "9"});
    assert_eq!(
        merge_payload(&first, &json!({"grade": "7.5"}), now),
        Merge::Unchanged
    );

    // Not yet delivered: the later grade replaces the waiting one.
    let Merge::Replace(replaced) = merge_payload(&first, &later, now) else {
        panic!("replace")
    };
    assert_eq!(replaced.payload, later);
    assert_eq!(replaced.id, first.id);

    // Delivered: the later grade is recorded, superseded, never sent.
    let delivered = after_attempt(&claim(&first, now), &Verdict::Delivered, now).delivery;
    let Merge::Supersede(s) = merge_payload(&delivered, &later, now) else {
        panic!("supersede")
    };
    assert_eq!(s.state, DeliveryState::Superseded);
    assert_eq!(s.payload, later);
    assert_ne!(s.id, delivered.id);
    assert!(!s.is_due(now + TimeDelta::days(400)));
    let Merge::Supersede(again) = merge_payload(&delivered, &later, now) else {
        panic!("supersede")
    };
    assert_eq!(again.id, s.id, "the same later grade twice is one record");

    // Failed for good: a new result is new information, tried again.
    let failed = after_attempt(
        &claim(&first, now),
        &Verdict::Failed { reason: "x".into() },
        now,
    )
    .delivery;
    let Merge::Replace(retry) = merge_payload(&failed, &later, now) else {
        panic!("replace")
    };
    assert!(retry.is_due(now));
}

#[test]
fn resend_and_cancel_follow_the_state() {
    let now = t0();
    let paused = pause(&delivery(), "401").unwrap();
    assert!(resend_now(&paused, now).unwrap().is_due(now));
    let delivered = after_attempt(&claim(&delivery(), now), &Verdict::Delivered, now).delivery;
    assert_eq!(
        resend_now(&delivered, now).unwrap_err().to_string(),
        "a delivered delivery cannot be resent"
    );
    assert!(cancel(&delivered).is_err());
    let cancelled = cancel(&delivery()).unwrap();
    assert_eq!(cancelled.state, DeliveryState::Cancelled);
    assert!(!cancelled.is_due(now));
    assert!(resend_now(&cancelled, now).is_err());
    assert_eq!(pause(&delivered, "x"), None);
}

#[test]
fn states_parse_by_name() {
    for s in DeliveryState::ALL {
        assert_eq!(DeliveryState::parse(s.as_str()), Ok(s));
        assert_eq!(
            serde_json::to_value(s).unwrap(),
            json!(s.as_str()),
            "wire name = as_str"
        );
    }
    assert!(DeliveryState::parse("done").is_err());
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn any_result() -> impl Strategy<Value = SendResult> {
        prop_oneof![
            (100u16..600).prop_map(|status| SendResult::Answered(SmsAnswer {
                status,
                headers: vec![],
                body: String::new()
            })),
            Just(SendResult::Answered(SmsAnswer {
                status: 400,
                headers: vec![],
                body: "learner not recognised".into()
            })),
            Just(SendResult::TimedOut),
            Just(SendResult::Unreachable),
        ]
    }

    proptest! {
        /// Whatever the SMS answers and whenever runs happen, a delivered
        /// delivery is never due again, and a delivery never expires before
        /// its window (30 days from the first attempt) has ended.
        #[test]
        fn delivered_is_final_and_expiry_never_early(
            steps in proptest::collection::vec((any_result(), 0i64..(3 * 86_400)), 1..80),
        ) {
            let mut d = delivery();
            let mut now = t0();
            for (result, gap) in steps {
                now += TimeDelta::seconds(gap);
                if let Some(t) = expire_if_past_window(&d, now, 30) {
                    let first = d.first_attempt_at.unwrap();
                    prop_assert!(now >= first + TimeDelta::days(30));
                    d = t.delivery;
                    continue;
                }
                if !d.is_due(now) {
                    if d.state == DeliveryState::Delivered {
                        prop_assert!(!d.is_due(now + TimeDelta::days(365)));
                    }
                    continue;
                }
                let claimed = claim(&d, now);
                let verdict = classify(&result, claimed.same_day_retries, now);
                d = after_attempt(&claimed, &verdict, now).delivery;
                if d.state == DeliveryState::Pending {
                    prop_assert!(d.next_attempt_at > now, "a retry is always later");
                }
                // A later result never makes a delivered delivery due again.
                if d.state == DeliveryState::Delivered {
                    match merge_payload(&d, &serde_json::json!({"grade": "other"}), now) {
                        Merge::Supersede(s) => prop_assert!(!s.is_due(now)),
                        other => prop_assert!(false, "{other:?}"),
                    }
                }
            }
        }
    }
}
