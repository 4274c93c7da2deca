//! The course the results tests grade: a Moodle connection and an SMS one (its
//! simulator accepting every signed delivery), an offering linked and mapped,
//! and three students enrolled and transferred.

#![allow(clippy::unwrap_used)]

use chrono::{NaiveDate, Utc};
use cloud::testing::connection;
use domain::ConnectionKind::{Moodle, Sms};
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::ports::{ConnectionStore, LinkStore, ResultStore, SisStore};
use domain::results::{MappedActivity, Mapping};
use domain::sis::*;
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use secrecy::SecretString;
use simulators::moodle::SAMPLE_TOKEN;
use simulators::sms::SmsSim;

/// Tenant acme's Moodle connection `moodle-main` to the Moodle simulator at
/// `base_url`, with `settings` and `token` as its secret, stored as the
/// stack stores them.
///
/// # Panics
/// When moto refuses a write.
pub async fn moodle_main(
    system: &devstack::runner::LocalSystem,
    base_url: &str,
    token: &str,
    settings: MoodleSettings,
) -> domain::Connection {
    let stores = system.stores();
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = base_url.to_owned();
    conn.settings = ConnectionSettings::Moodle(settings);
    stores.connections.save_connection(&conn).await.unwrap();
    stores
        .secrets
        .put(
            &conn.secret_name(&system.config.secret_prefix),
            &SecretString::from(token),
        )
        .await
        .unwrap();
    conn
}

/// The graded course the results tests and the console's results screen work
/// on, for tenant acme: connection moodle-main to the Moodle simulator at
/// `base_url` (`review`: results wait for a person), the sample site's course 2
/// linked to OCC-1001 with unit U1 mapped to the quiz (cmid 1) and the
/// assignment (cmid 2), students 4, 5 and 6 enrolled from 1 February 2026 and
/// transferred (S4, S5, S6), and connection sms to an SMS simulator that
/// accepts every signed delivery (returned, with its server, to keep running).
///
/// # Panics
/// When moto refuses a write or the SMS simulator cannot start.
pub async fn graded_course(
    system: &devstack::runner::LocalSystem,
    base_url: &str,
    review: bool,
) -> (SmsSim, simulators::server::RunningServer) {
    let stores = system.stores();
    let (t, c, o) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("moodle-main").unwrap(),
        OfferingId::parse("OCC-1001").unwrap(),
    );
    moodle_main(
        system,
        base_url,
        SAMPLE_TOKEN,
        MoodleSettings {
            review_before_saving: review,
            use_enrolment_start_date: true,
            ..MoodleSettings::default()
        },
    )
    .await;
    // The SMS: its simulator accepts every signed delivery.
    let sms_sim = SmsSim::new("sms-secret");
    let sms_server = sms_sim.start().await.unwrap();
    let mut sms = connection("acme", "sms", Sms, true);
    sms.base_url = format!("{}/results", sms_server.base_url);
    stores.connections.save_connection(&sms).await.unwrap();
    stores
        .secrets
        .put(
            &sms.secret_name(&system.config.secret_prefix),
            &SecretString::from("sms-secret"),
        )
        .await
        .unwrap();
    let now = Utc::now();
    stores
        .sis
        .save_offering(&Offering {
            tenant: t.clone(),
            id: o.clone(),
            name: "Accounting".into(),
            start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![Assessable {
                id: AssessableId::parse("U1").unwrap(),
                name: "Unit 1".into(),
                kind: AssessableKind::Unit,
                expected_start_date: None,
            }],
            updated_at: now,
        })
        .await
        .unwrap();
    for (moodle_id, code) in [(4, "S4"), (5, "S5"), (6, "S6")] {
        let code = LearnerCode::parse(code).unwrap();
        stores
            .sis
            .save_enrolment(&Enrolment {
                tenant: t.clone(),
                learner: code.clone(),
                offering: o.clone(),
                state: EnrolmentState::InProgress,
                start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
                session_date: None,
                updated_at: now,
            })
            .await
            .unwrap();
        stores
            .links
            .save_account(&ExternalAccount {
                tenant: t.clone(),
                connection: c.clone(),
                learner: code.clone(),
                external_id: moodle_id,
                created_by_us: false,
                linked_at: now,
            })
            .await
            .unwrap();
        stores
            .links
            .save_transfer(&Transfer {
                tenant: t.clone(),
                connection: c.clone(),
                offering: o.clone(),
                learner: code,
                status: TransferStatus::Transferred,
                external_user: Some(moodle_id),
                transferred_at: Some(now),
                updated_at: now,
                removal_error: None,
            })
            .await
            .unwrap();
    }
    stores
        .links
        .save_link(&CourseLink {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c.clone(),
            course_id: 2,
            course_idnumber: Some("OCC-1001".into()),
            course_shortname: Some("OCC-1001".into()),
            linked_at: now,
        })
        .await
        .unwrap();
    stores
        .results
        .save_mapping(&Mapping {
            tenant: t.clone(),
            offering: o.clone(),
            connection: c.clone(),
            assessable: AssessableId::parse("U1").unwrap(),
            activities: vec![
                MappedActivity {
                    cmid: 1,
                    modname: "quiz".into(),
                },
                MappedActivity {
                    cmid: 2,
                    modname: "assign".into(),
                },
            ],
            updated_at: now,
        })
        .await
        .unwrap();
    (sms_sim, sms_server)
}
