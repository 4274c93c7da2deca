use super::api_log::mask_bearer;
use super::*;
use crate::connection::ConnectionKind;
use chrono::TimeZone;

fn learner(given: &str, family: &str, email: Option<&str>, dob: Option<NaiveDate>) -> Learner {
    Learner {
        tenant: TenantId::parse("t1").unwrap(),
        code: LearnerCode::parse("C100").unwrap(),
        username: None,
        given_name: given.into(),
        middle_name: None,
        family_name: family.into(),
        email: email.map(str::to_owned),
        date_of_birth: dob,
        archived: false,
        email_opt_out: false,
        updated_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
    }
}

fn dob() -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1990, 5, 17)
}

#[test]
fn products_map_from_their_kinds_only() {
    let cases = [
        (ConnectionKind::Ocsat, Some(LlnProduct::Ocsat)),
        (ConnectionKind::LlnRobot, Some(LlnProduct::LlnRobot)),
        (ConnectionKind::Moodle, None),
        (ConnectionKind::CourseKey, None),
        (ConnectionKind::Sms, None),
    ];
    for (kind, product) in cases {
        assert_eq!(LlnProduct::from_kind(kind), product, "{kind:?}");
        if let Some(p) = product {
            assert_eq!(p.kind(), kind);
            assert!(p.default_api_url().starts_with("https://"));
            assert!(p.default_auth_url().starts_with("https://"));
        }
    }
    assert_ne!(
        LlnProduct::Ocsat.default_api_url(),
        LlnProduct::LlnRobot.default_api_url()
    );
}

#[test]
fn every_missing_required_field_is_listed_at_once_by_name() {
    let rule = UsernameRule::Default { email_unique: true };
    let cases: [(Learner, Vec<&str>); 6] = [
        (learner("Greg", "Abbott", Some("g@x.org"), dob()), vec![]),
        (
            learner("Greg", "", Some("g@x.org"), dob()),
            vec!["family_name"],
        ),
        (
            learner("Greg", "Abbott", Some("g@x.org"), None),
            vec!["date_of_birth"],
        ),
        (learner("Greg", "Abbott", None, dob()), vec!["email"]),
        (
            learner("Greg", "  ", Some(" "), None),
            vec!["family_name", "date_of_birth", "email"],
        ),
        (
            learner("Greg", "Abbott", Some("not-an-email"), dob()),
            vec!["email"],
        ),
    ];
    for (l, expected) in cases {
        match candidate_fields(&l, rule) {
            Ok(_) => assert!(expected.is_empty(), "{l:?} should be refused"),
            Err(e) => {
                assert_eq!(e.fields(), expected, "{l:?}");
                for field in expected {
                    assert!(e.to_string().contains(field), "{e}");
                }
            }
        }
    }
}

#[test]
fn given_and_other_names_are_optional() {
    let mut l = learner("", "Abbott", Some("g@x.org"), dob());
    l.middle_name = Some("  ".into());
    let f = candidate_fields(&l, UsernameRule::Default { email_unique: true }).unwrap();
    assert_eq!((f.given_name, f.other_name), (None, None));
    l.given_name = "Greg".into();
    l.middle_name = Some("Lee".into());
    let f = candidate_fields(&l, UsernameRule::Default { email_unique: true }).unwrap();
    assert_eq!(
        (f.given_name.as_deref(), f.other_name.as_deref()),
        (Some("Greg"), Some("Lee"))
    );
    assert_eq!(f.learner_code.as_str(), "C100");
}

#[test]
fn the_username_is_the_given_value_else_the_email_else_firstname_surname() {
    let l = learner("Greg", "Abbott", Some(" Greg@X.org "), dob());
    let cases = [
        (UsernameRule::Given("gabbott"), "gabbott"),
        (UsernameRule::Given("  gabbott "), "gabbott"),
        (UsernameRule::Default { email_unique: true }, "Greg@X.org"),
        (
            UsernameRule::Default {
                email_unique: false,
            },
            "Greg.Abbott",
        ),
    ];
    for (rule, expected) in cases {
        let f = candidate_fields(&l, rule).unwrap();
        assert_eq!(f.username, expected, "{rule:?}");
    }
    let cases = [
        ("Greg", "Abbott", "Greg.Abbott"),
        ("Mary Jane", "Van Dyke", "MaryJane.VanDyke"),
        ("", "Abbott", "Abbott"),
    ];
    for (given, family, expected) in cases {
        assert_eq!(name_username(given, family), expected);
    }
}

#[test]
fn a_blank_or_spaced_given_username_is_refused_by_name() {
    let l = learner("Greg", "Abbott", Some("g@x.org"), dob());
    let e = candidate_fields(&l, UsernameRule::Given("  ")).unwrap_err();
    assert_eq!(e.fields(), vec!["username"]);
    let e = candidate_fields(&l, UsernameRule::Given("greg abbott")).unwrap_err();
    assert_eq!(e.fields(), vec!["username"]);
}

#[test]
fn email_uniqueness_is_among_other_learners_of_the_tenant() {
    let me = learner("Greg", "Abbott", Some("g@x.org"), dob());
    let mut same_code = me.clone();
    same_code.email = Some("G@X.ORG".into());
    let mut sibling = me.clone();
    sibling.code = LearnerCode::parse("C101").unwrap();
    sibling.email = Some(" G@x.org".into());
    let mut other_tenant = sibling.clone();
    other_tenant.tenant = TenantId::parse("t2").unwrap();
    let mut different = sibling.clone();
    different.email = Some("h@x.org".into());
    let cases: [(Vec<&Learner>, bool); 5] = [
        (vec![], true),
        (vec![&same_code], true),
        (vec![&different], true),
        (vec![&other_tenant], true),
        (vec![&different, &sibling], false),
    ];
    for (others, unique) in cases {
        assert_eq!(email_is_unique(&me, others.iter().copied()), unique);
    }
}

fn fields() -> CandidateFields {
    candidate_fields(
        &learner("Greg", "Abbott", Some("g@x.org"), dob()),
        UsernameRule::Default { email_unique: true },
    )
    .unwrap()
}

#[test]
fn out_of_sync_lists_every_differing_field() {
    let ours = fields();
    let mut theirs = ours.clone();
    assert!(out_of_sync(&ours, &theirs).is_empty());
    theirs.email = " G@X.ORG".into();
    theirs.family_name = "Abbott ".into();
    assert!(
        out_of_sync(&ours, &theirs).is_empty(),
        "case of email and spaces are not differences"
    );
    theirs.family_name = "Abott".into();
    theirs.given_name = None;
    theirs.date_of_birth = NaiveDate::from_ymd_opt(1990, 5, 18).unwrap();
    let diffs = out_of_sync(&ours, &theirs);
    assert_eq!(
        diffs.iter().map(|d| d.field).collect::<Vec<_>>(),
        vec!["family_name", "given_name", "date_of_birth"]
    );
    assert_eq!(diffs[1].ours.as_deref(), Some("Greg"));
    assert_eq!(diffs[1].theirs, None);
    assert_eq!(diffs[2].theirs.as_deref(), Some("1990-05-18"));
}

fn stored(pushed: CandidateFields) -> LlnCandidate {
    let at = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
    LlnCandidate::pushed(
        TenantId::parse("t1").unwrap(),
        ConnectionId::parse("ocsat").unwrap(),
        &RemoteCandidate {
            id: CandidateId::parse("cand-1").unwrap(),
            fields: pushed.clone(),
            created_at: at,
            updated_at: at,
        },
        pushed,
        at,
    )
}

#[test]
fn a_candidate_needs_a_push_when_changed_since_the_last_or_left_out() {
    let pushed = fields();
    let mut changed = pushed.clone();
    changed.other_name = Some("Lee".into());
    let mut flagged = stored(pushed.clone());
    flagged.needs_update = true;
    let cases = [
        (stored(pushed.clone()), pushed.clone(), false),
        (stored(pushed.clone()), changed.clone(), true),
        (flagged, pushed.clone(), true),
    ];
    for (candidate, current, expected) in cases {
        assert_eq!(candidate.needs_push(&current), expected);
    }
}

fn assessment(id: &str, candidate: &str, modified_day: u32) -> Assessment {
    Assessment {
        id: AssessmentId::parse(id).unwrap(),
        candidate_id: CandidateId::parse(candidate).unwrap(),
        name: "Core skills".into(),
        skills: vec!["Reading".into(), "Numeracy".into()],
        completed_at: Utc.with_ymd_and_hms(2026, 3, 1, 10, 30, 0).unwrap(),
        sitting_ids: vec!["S1".into()],
        results: vec![SkillResult {
            skill: "Reading".into(),
            level: Some("3".into()),
            score: Some(71.0),
            band: None,
        }],
        modified_at: Utc
            .with_ymd_and_hms(2026, 3, modified_day, 0, 0, 0)
            .unwrap(),
    }
}

#[test]
fn a_download_is_ok_error_for_unknown_candidates_and_done_when_saved() {
    let candidates = HashMap::from([(
        CandidateId::parse("cand-1").unwrap(),
        LearnerCode::parse("C100").unwrap(),
    )]);
    let saved = HashSet::from([AssessmentId::parse("a-2").unwrap()]);
    let rows = classify_download(
        vec![
            assessment("a-1", "cand-1", 2),
            assessment("a-2", "cand-1", 3),
            assessment("a-3", "cand-ui", 4),
        ],
        &candidates,
        &saved,
    );
    assert_eq!(rows[0].status, DownloadStatus::Ok);
    assert_eq!(
        rows[0].learner.as_ref().map(LearnerCode::as_str),
        Some("C100")
    );
    assert_eq!(rows[1].status, DownloadStatus::Done);
    let DownloadStatus::Error { reason } = &rows[2].status else {
        panic!("unknown candidate must be an error")
    };
    assert!(reason.contains("cand-ui") && reason.contains("unknown"));
    assert_eq!(rows[2].learner, None);
}

#[test]
fn the_modified_date_advances_to_the_latest_downloaded_never_back() {
    let rows = classify_download(
        vec![assessment("a-1", "x", 2), assessment("a-3", "x", 4)],
        &HashMap::new(),
        &HashSet::new(),
    );
    let day = |d| Utc.with_ymd_and_hms(2026, 3, d, 0, 0, 0).unwrap();
    let cases = [
        (None, &rows[..], Some(day(4))),
        (Some(day(1)), &rows[..], Some(day(4))),
        (Some(day(9)), &rows[..], Some(day(9))),
        (Some(day(1)), &[][..], Some(day(1))),
        (None, &[][..], None),
    ];
    for (current, downloaded, expected) in cases {
        assert_eq!(next_modified_since(current, downloaded), expected);
    }
}

#[test]
fn a_saved_assessment_takes_the_connection_defaults() {
    let settings = LlnSettings {
        default_staff: Some("STAFF-7".into()),
        default_assessment_status: Some("Received".into()),
        ..LlnSettings::default()
    };
    let now = Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap();
    let s = SavedAssessment::new(
        TenantId::parse("t1").unwrap(),
        ConnectionId::parse("ocsat").unwrap(),
        LearnerCode::parse("C100").unwrap(),
        assessment("a-1", "cand-1", 2),
        &settings,
        now,
    );
    assert_eq!(
        (s.status.as_deref(), s.staff.as_deref(), s.saved_at),
        (Some("Received"), Some("STAFF-7"), now)
    );
    assert_eq!(s.follow_up_comment, None);
}

fn call() -> ApiCall {
    ApiCall {
            at: Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap(),
            method: "POST".into(),
            url: "https://auth.example/token?client_secret=cs_live_0123456789&x=1".into(),
            request_headers: vec![
                (
                    "Authorization".into(),
                    "Bearer eyJhbGciOi.tokenvalue.sig123".into(),
                ),
                ("x-api-key".into(), "ak_live_abcdefghijkl".into()),
                ("Content-Type".into(), "application/json".into()),
            ],
            request_body: Some(
                "grant_type=client_credentials&client_id=lb-client&client_secret=cs_live_0123456789"
                    .into(),
            ),
            response_status: Some(200),
            response_body: Some(
                r#"{"access_token":"eyJhbGciOi.tokenvalue.sig123","token_type":"Bearer","expires_in":3600,"nested":{"apiKey":"ak_live_abcdefghijkl"}}"#
                    .into(),
            ),
            error: Some("echo: cs_live_0123456789".into()),
            duration_ms: 12,
        }
}

#[test]
fn obfuscation_masks_every_secret_wherever_it_appears() {
    let secrets = [
        "cs_live_0123456789",
        "ak_live_abcdefghijkl",
        "eyJhbGciOi.tokenvalue.sig123",
    ];
    let masked = obfuscate(call(), &secrets);
    let text = serde_json::to_string(&masked).unwrap();
    for secret in secrets {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    // Without being told the values, the names alone are enough (an error
    // text that echoes a bare secret needs its value to be known).
    let unnamed = ApiCall {
        error: None,
        ..call()
    };
    let masked_by_name = serde_json::to_string(&obfuscate(unnamed, &[])).unwrap();
    for secret in secrets {
        assert!(
            !masked_by_name.contains(secret),
            "{secret} leaked: {masked_by_name}"
        );
    }
    // What is not secret stays readable for support.
    // The client id is sensitive too (the seed: "these fields are sensitive").
    assert!(!text.contains("lb-client") && text.contains("client_id=****"));
    assert!(text.contains("grant_type=client_credentials"));
    assert!(text.contains("application/json"));
    assert!(text.contains("expires_in"));
    assert!(text.contains("x=1"));
    assert!(text.contains(r#"\"token_type\":\"Bearer\""#), "{text}");
    assert_eq!(masked.request_headers[0].1, "Bearer ****g123");
    assert_eq!(obfuscate(masked.clone(), &secrets), masked, "idempotent");
    assert_eq!(obfuscate(masked.clone(), &[]), masked, "idempotent by name");
}

mod invariants {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Wherever a known secret lands in a call (URL, any header, either
        /// body, the error) and whatever surrounds it, it never survives
        /// obfuscation; and obfuscating twice changes nothing more.
        #[test]
        fn a_known_secret_never_survives(
            secret in "[A-Za-z0-9]{12,40}",
            before in "[ -~]{0,30}",
            after in "[ -~]{0,30}",
            place in 0usize..6,
        ) {
            let text = format!("{before}{secret}{after}");
            let mut c = ApiCall {
                at: Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 0).unwrap(),
                method: "GET".into(),
                url: "https://api.example/v1/x".into(),
                request_headers: vec![("x-trace".into(), "t".into())],
                request_body: None,
                response_status: Some(200),
                response_body: None,
                error: None,
                duration_ms: 1,
            };
            match place {
                0 => c.url = format!("https://api.example/v1/x?q={text}"),
                1 => c.request_headers.push(("x-note".into(), text)),
                2 => c.request_body = Some(text),
                3 => c.response_body = Some(serde_json::json!({ "note": text }).to_string()),
                4 => c.response_body = Some(text),
                _ => c.error = Some(text),
            }
            let once = obfuscate(c, &[&secret]);
            let shown = serde_json::to_string(&once).unwrap();
            prop_assert!(!shown.contains(&secret), "{}", shown);
            let twice = obfuscate(once.clone(), &[&secret]);
            prop_assert_eq!(twice, once);
        }
    }
}

#[test]
fn bearer_tokens_in_free_text_are_masked() {
    let cases = [
        ("Bearer abcdefghijklmnop", "Bearer ****mnop"),
        (
            "got bearer abcdefghijklmnop, refused",
            "got bearer ****mnop, refused",
        ),
        ("no token here", "no token here"),
        ("Bearer ", "Bearer "),
    ];
    for (text, expected) in cases {
        assert_eq!(mask_bearer(text), expected);
    }
}
