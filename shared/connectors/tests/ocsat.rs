//! The OCSAT / LLN Robot client against the OCSAT simulator over real HTTP, per
//! docs/connectors/ocsat.md: the token flow, expiry and refresh, refusals,
//! candidates, duplicates, assessment paging, the obfuscated API log, and which
//! failures are retryable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use async_trait::async_trait;
use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};
use connectors::egress::Egress;
use connectors::ocsat::OcsatApis;
use domain::connection::{ConnectionSettings, LlnSettings, MoodleSettings};
use domain::lln::{
    ApiCall, CandidateFields, CandidateId, LlnError, UsernameRule, candidate_fields, out_of_sync,
};
use domain::ports::{
    LlnApi, LlnApis, LlnCallLog, Retryable, SecretError, SecretSource, StoreError,
};
use domain::sis::Learner;
use domain::{Connection, ConnectionId, LearnerCode, TenantId};
use secrecy::SecretString;
use simulators::ocsat::{OcsatSim, SimAssessment};
use simulators::server::RunningServer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CLIENT_ID: &str = "lb-client";
const CLIENT_SECRET: &str = "cs_live_9f8e7d6c5b4a3210";
const API_KEY: &str = "ak_live_0a1b2c3d4e5f6789";
const PREFIX: &str = "learnbridge";

/// Secrets as Secrets Manager would hold them (this test is about the client, not the store).
struct Secrets(HashMap<String, String>);

#[async_trait]
impl SecretSource for Secrets {
    async fn secret(&self, name: &str) -> Result<SecretString, SecretError> {
        self.0
            .get(name)
            .map(|v| SecretString::from(v.clone()))
            .ok_or_else(|| SecretError::NotFound {
                name: name.to_owned(),
            })
    }
}

/// Captures what the client writes to the API log.
#[derive(Default)]
struct CapturedLog(Mutex<Vec<(TenantId, ConnectionId, ApiCall)>>);

#[async_trait]
impl LlnCallLog for CapturedLog {
    async fn record(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        call: &ApiCall,
    ) -> Result<(), StoreError> {
        self.0
            .lock()
            .unwrap()
            .push((tenant.clone(), connection.clone(), call.clone()));
        Ok(())
    }
}

impl CapturedLog {
    fn calls(&self) -> Vec<ApiCall> {
        self.0.lock().unwrap().iter().map(|c| c.2.clone()).collect()
    }
}

struct Setup {
    sim: OcsatSim,
    server: RunningServer,
    log: Arc<CapturedLog>,
    apis: OcsatApis,
    connection: Connection,
}

fn connection(base: &str, api_logging: bool) -> Connection {
    Connection {
        tenant: TenantId::parse("acme").unwrap(),
        id: ConnectionId::parse("ocsat").unwrap(),
        name: "OCSAT".into(),
        base_url: format!("{base}/api/v1"),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Ocsat(LlnSettings {
            auth_url: format!("{base}/oauth2/token"),
            client_id: CLIENT_ID.into(),
            api_logging,
            ..LlnSettings::default()
        }),
    }
}

async fn setup_with(api_key_stored: &str, api_logging: bool) -> Setup {
    let sim = OcsatSim::new(CLIENT_ID, CLIENT_SECRET, API_KEY);
    let server = sim.start().await.unwrap();
    let connection = connection(&server.base_url, api_logging);
    let secrets = Secrets(HashMap::from([
        (connection.secret_name(PREFIX), CLIENT_SECRET.to_owned()),
        (
            connection.field_secret_name(PREFIX, "api_key"),
            api_key_stored.to_owned(),
        ),
    ]));
    let log = Arc::new(CapturedLog::default());
    let apis =
        OcsatApis::new(Arc::new(secrets), PREFIX, log.clone()).with_egress(Egress::AllowInternal);
    Setup {
        sim,
        server,
        log,
        apis,
        connection,
    }
}

async fn setup() -> Setup {
    setup_with(API_KEY, true).await
}

fn greg() -> CandidateFields {
    let learner = Learner {
        tenant: TenantId::parse("acme").unwrap(),
        code: LearnerCode::parse("C100").unwrap(),
        username: None,
        given_name: "Greg".into(),
        middle_name: None,
        family_name: "Abbott".into(),
        email: Some("greg@example.org".into()),
        date_of_birth: NaiveDate::from_ymd_opt(1990, 5, 17),
        archived: false,
        email_opt_out: false,
        updated_at: Utc::now(),
    };
    candidate_fields(&learner, UsernameRule::Default { email_unique: true }).unwrap()
}

#[tokio::test]
async fn one_token_serves_many_calls_and_the_client_is_kept_per_connection() {
    let s = setup().await;
    let api = s.apis.for_connection(&s.connection).await.unwrap();
    api.test_connection().await.unwrap();
    api.test_connection().await.unwrap();
    let again = s.apis.client(&s.connection).await.unwrap();
    again.test_connection().await.unwrap();
    assert_eq!(s.sim.tokens_issued(), 1, "the token is cached and reused");
    assert_eq!(s.sim.calls_to("/api/v1/organisation"), 3);
}

#[tokio::test]
async fn a_token_about_to_expire_is_replaced_before_use() {
    let s = setup().await;
    // Tokens living less than the client's margin are never reused.
    s.sim.set_token_lifetime(30);
    let api = s.apis.for_connection(&s.connection).await.unwrap();
    api.test_connection().await.unwrap();
    api.test_connection().await.unwrap();
    assert_eq!(s.sim.tokens_issued(), 2);
}

#[tokio::test]
async fn a_refused_token_is_replaced_once_and_the_call_succeeds() {
    let s = setup().await;
    let api = s.apis.for_connection(&s.connection).await.unwrap();
    api.test_connection().await.unwrap();
    s.sim.revoke_tokens();
    api.test_connection().await.unwrap();
    assert_eq!(s.sim.tokens_issued(), 2);
    let statuses: Vec<(String, u16)> = s
        .sim
        .calls()
        .into_iter()
        .map(|c| (c.path, c.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("/oauth2/token".to_owned(), 200),
            ("/api/v1/organisation".to_owned(), 200),
            ("/api/v1/organisation".to_owned(), 401),
            ("/oauth2/token".to_owned(), 200),
            ("/api/v1/organisation".to_owned(), 200),
        ]
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused_for_a_person_to_fix_and_never_echoed() {
    // A wrong API key: the token is fine, the API answers 403.
    let s = setup_with("ak_wrong_key_123456789", false).await;
    let err = s
        .apis
        .for_connection(&s.connection)
        .await
        .unwrap()
        .test_connection()
        .await
        .unwrap_err();
    assert!(
        matches!(err, LlnError::Unauthorized { status: 403, .. }),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    // A wrong client secret: the token request is refused.
    let s = setup().await;
    let mut wrong = s.connection.clone();
    let ConnectionSettings::Ocsat(settings) = &mut wrong.settings else {
        unreachable!()
    };
    settings.client_id = "someone-else".into();
    let err = s
        .apis
        .for_connection(&wrong)
        .await
        .unwrap()
        .test_connection()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            LlnError::Unauthorized {
                what: "the token request",
                status: 401
            }
        ),
        "{err:?}"
    );
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(
            !text.contains(CLIENT_SECRET) && !text.contains(API_KEY),
            "{text}"
        );
    }
    // Revoked for good: one fresh token, then the refusal.
    let api = s.apis.for_connection(&s.connection).await.unwrap();
    api.test_connection().await.unwrap();
    s.sim.fail_with(Some(401));
    let err = api.test_connection().await.unwrap_err();
    assert!(matches!(err, LlnError::Unauthorized { status: 401, .. }));
}

#[tokio::test]
async fn candidates_are_created_read_back_and_updated() {
    let s = setup().await;
    let api = s.apis.for_connection(&s.connection).await.unwrap();
    let created = api.create_candidate(&greg()).await.unwrap();
    assert_eq!(created.fields, greg());
    let stored = s.sim.candidate(created.id.as_str()).unwrap();
    assert_eq!(
        (stored.external_id.as_deref(), stored.family_name.as_str()),
        (Some("C100"), "Abbott")
    );
    let read = api.candidate(&created.id).await.unwrap().unwrap();
    assert_eq!(read, created);

    // Edited in OCSAT's own screens: the diff shows the field.
    let later = created.updated_at + TimeDelta::minutes(5);
    assert!(s.sim.edit_candidate_in_ui(created.id.as_str(), later, |c| {
        c.email = "greg.abbott@example.org".into();
    }));
    let theirs = api.candidate(&created.id).await.unwrap().unwrap();
    let diffs = out_of_sync(&greg(), &theirs.fields);
    assert_eq!(diffs.len(), 1);
    assert_eq!(diffs[0].field, "email");
    assert_eq!(theirs.updated_at, later);

    // Pushing ours puts it back.
    let mut ours = greg();
    ours.other_name = Some("Lee".into());
    let updated = api.update_candidate(&created.id, &ours).await.unwrap();
    assert_eq!(updated.fields, ours);
    assert_eq!(updated.created_at, created.created_at);
    assert!(
        out_of_sync(
            &ours,
            &api.candidate(&created.id).await.unwrap().unwrap().fields
        )
        .is_empty()
    );
    assert_eq!(
        api.candidate(&CandidateId::parse("c-999999").unwrap())
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn duplicates_name_their_field_and_our_own_earlier_create_is_found() {
    let s = setup().await;
    let api = s.apis.for_connection(&s.connection).await.unwrap();
    let first = api.create_candidate(&greg()).await.unwrap();
    let err = api.create_candidate(&greg()).await.unwrap_err();
    assert!(
        matches!(&err, LlnError::Duplicate { field } if field == "username"),
        "{err:?}"
    );
    assert!(!err.is_retryable());
    let found = api
        .find_candidate("GREG@example.org", "greg@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, first.id);
    assert_eq!(found.fields.learner_code.as_str(), "C100");

    // A candidate made in OCSAT's own screens is not taken for ours.
    s.sim.add_candidate_in_ui(
        "ana@example.org",
        "ana@example.org",
        "Ruiz",
        Some("Ana"),
        None,
        Utc::now(),
    );
    let mut ana = greg();
    ana.username = "ana@example.org".into();
    ana.email = "ana@example.org".into();
    ana.learner_code = LearnerCode::parse("C200").unwrap();
    let err = api.create_candidate(&ana).await.unwrap_err();
    assert!(matches!(err, LlnError::Duplicate { .. }));
    assert_eq!(
        api.find_candidate("ana@example.org", "ana@example.org")
            .await
            .unwrap(),
        None
    );

    // An email may be shared: the same email under another username is created.
    let mut other = greg();
    other.username = "Greg.Abbott".into();
    other.learner_code = LearnerCode::parse("C300").unwrap();
    let second = api.create_candidate(&other).await.unwrap();
    assert_ne!(second.id, first.id);
}

#[tokio::test]
async fn fields_the_tool_refuses_are_named_as_the_learner_s() {
    let s = setup().await;
    let api = s.apis.for_connection(&s.connection).await.unwrap();
    let mut future_born = greg();
    future_born.date_of_birth = (Utc::now() + TimeDelta::days(30)).date_naive();
    let err = api.create_candidate(&future_born).await.unwrap_err();
    let LlnError::Invalid { issues } = &err else {
        panic!("{err:?}")
    };
    let fields: Vec<&str> = issues.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(fields, vec!["date_of_birth"]);
    assert!(err.to_string().contains("date_of_birth"));
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn assessments_after_a_date_come_in_pages_oldest_first() {
    let s = setup().await;
    let api = s.apis.for_connection(&s.connection).await.unwrap();
    let since = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    // 5 before (or at) the date, 230 after it: three pages of at most 100.
    for i in 0..235_i64 {
        let at = since + TimeDelta::minutes(i - 4);
        s.sim.add_assessment(SimAssessment::core_skills(
            format!("a-{i:04}"),
            "c-000001",
            at,
        ));
    }
    let all = api.assessments_after(since).await.unwrap();
    assert_eq!(all.len(), 230);
    assert!(all.iter().all(|a| a.modified_at > since));
    assert!(all.windows(2).all(|w| w[0].modified_at <= w[1].modified_at));
    assert_eq!(all[0].id.as_str(), "a-0005");
    assert_eq!(s.sim.calls_to("/api/v1/assessments"), 3);
    let first = &all[0];
    assert_eq!(first.candidate_id.as_str(), "c-000001");
    assert_eq!(first.skills, vec!["Reading", "Numeracy"]);
    assert_eq!(first.sitting_ids, vec!["a-0005-s1", "a-0005-s2"]);
    assert_eq!(first.results[0].level.as_deref(), Some("3"));
    assert_eq!(first.results[0].score, Some(71.5));
    assert_eq!(first.results[1].band, None);

    // From the newest modified date: nothing new.
    let newest = all.last().unwrap().modified_at;
    assert!(api.assessments_after(newest).await.unwrap().is_empty());
    let page = api.assessments_page(since, None).await.unwrap();
    assert_eq!(page.assessments.len(), 100);
    assert!(page.next_cursor.is_some());
}

#[tokio::test]
async fn every_call_is_logged_with_every_secret_obfuscated() {
    let s = setup().await;
    let api = s.apis.for_connection(&s.connection).await.unwrap();
    api.test_connection().await.unwrap();
    api.create_candidate(&greg()).await.unwrap();
    s.sim.revoke_tokens();
    api.assessments_after(Utc::now() - TimeDelta::days(1))
        .await
        .unwrap();
    let calls = s.log.calls();
    assert_eq!(
        calls.len(),
        s.sim.calls().len(),
        "every call, token requests included"
    );
    assert_eq!(calls[0].method, "POST");
    assert!(calls[0].url.ends_with("/oauth2/token"));
    assert_eq!(calls[0].response_status, Some(200));
    let text = serde_json::to_string(&calls).unwrap();
    for secret in [CLIENT_ID, CLIENT_SECRET, API_KEY, "ocsat-token-"] {
        assert!(!text.contains(secret), "{secret} in the API log: {text}");
    }
    // Still useful to support: who, what and the shape of the answers.
    assert!(text.contains("client_id=****"));
    assert!(text.contains("client_secret=****"));
    assert!(text.contains("Bearer ****"));
    assert!(calls.iter().any(|c| {
        c.request_body
            .as_deref()
            .is_some_and(|b| b.contains(r#""familyName":"Abbott""#))
    }));
    assert!(calls.iter().any(|c| c.response_status == Some(401)));
    let entries = s.log.0.lock().unwrap();
    assert!(
        entries
            .iter()
            .all(|(t, c, _)| t.as_str() == "acme" && c.as_str() == "ocsat")
    );
}

#[tokio::test]
async fn nothing_is_logged_while_logging_is_off() {
    let s = setup_with(API_KEY, false).await;
    let api = s.apis.for_connection(&s.connection).await.unwrap();
    api.test_connection().await.unwrap();
    assert!(s.log.calls().is_empty());
    // Switching it on takes effect at once (the client is rebuilt).
    let on = connection(&s.server.base_url, true);
    s.apis
        .for_connection(&on)
        .await
        .unwrap()
        .test_connection()
        .await
        .unwrap();
    assert_eq!(s.log.calls().len(), 2, "a new token request and the call");
}

#[tokio::test]
async fn rate_limits_server_errors_and_unreachable_tools_are_retryable() {
    let s = setup().await;
    let api = s.apis.for_connection(&s.connection).await.unwrap();
    // The token endpoint being rate limited is retryable too.
    s.sim.fail_next(429, 1);
    let err = api.test_connection().await.unwrap_err();
    assert!(
        matches!(err, LlnError::Unavailable(_)) && err.is_retryable(),
        "{err:?}"
    );
    assert_eq!(s.sim.calls()[0].path, "/oauth2/token");
    api.test_connection().await.unwrap();
    for status in [429, 500, 503] {
        s.sim.fail_next(status, 1);
        let err = api.create_candidate(&greg()).await.unwrap_err();
        assert!(matches!(err, LlnError::Unavailable(_)), "{status}: {err:?}");
        assert!(err.is_retryable(), "{status}");
    }
    assert!(s.sim.candidates().is_empty(), "nothing was created");
    s.server.shutdown().await;
    let err = api.test_connection().await.unwrap_err();
    assert!(
        matches!(err, LlnError::Unavailable(_)) && err.is_retryable(),
        "{err:?}"
    );
}

#[tokio::test]
async fn only_lln_connections_with_their_secrets_get_a_client() {
    let s = setup().await;
    let mut moodle = s.connection.clone();
    moodle.settings = ConnectionSettings::Moodle(MoodleSettings::default());
    assert!(matches!(
        s.apis.for_connection(&moodle).await.err().unwrap(),
        LlnError::NotAnLlnConnection { .. }
    ));
    let mut other = s.connection.clone();
    other.id = ConnectionId::parse("no-secrets").unwrap();
    let err = s.apis.for_connection(&other).await.err().unwrap();
    assert!(
        matches!(err, LlnError::Secret(SecretError::NotFound { .. })),
        "{err:?}"
    );
    // LLN Robot speaks the same contract.
    let mut robot = s.connection.clone();
    let ConnectionSettings::Ocsat(settings) = &s.connection.settings else {
        unreachable!()
    };
    robot.settings = ConnectionSettings::LlnRobot(settings.clone());
    s.apis
        .for_connection(&robot)
        .await
        .unwrap()
        .test_connection()
        .await
        .unwrap();
}
