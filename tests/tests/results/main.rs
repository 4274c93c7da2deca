//! Results fetch end to end: the local runner over moto and the Moodle
//! simulator. Grades are set in the simulator, the nightly run fires, the
//! queues drain: results are stored, approved automatically (review off) and
//! become deliveries to the SMS; the completed course completes the enrolment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, NaiveDate, Utc};
use cloud::testing::connection;
use domain::ConnectionKind::{Moodle, Sms};
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::delivery::{DeliveryKind, DeliveryState};
use domain::ports::{ConnectionStore, DeliveryStore, LinkStore, ResultStore, RunStore, SisStore};
use domain::results::{MappedActivity, Mapping, ResultType, ReviewState};
use domain::sis::*;
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use secrecy::SecretString;
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};
use simulators::sms::SmsSim;

mod completions;
mod download;
mod progress;

/// The setup the tests below share: the sample site's course 2 linked to
/// OCC-1001 with unit U1 mapped to the quiz (cmid 1) and the assignment
/// (cmid 2), students 4, 5 and 6 enrolled and transferred (S4, S5, S6).
async fn graded_course(
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
    let mut conn = connection("acme", "moodle-main", Moodle, true);
    conn.base_url = base_url.to_owned();
    conn.settings = ConnectionSettings::Moodle(MoodleSettings {
        review_before_saving: review,
        use_enrolment_start_date: true,
        ..MoodleSettings::default()
    });
    stores.connections.save_connection(&conn).await.unwrap();
    // The SMS: its simulator accepts every signed delivery.
    let sms_sim = SmsSim::new("sms-secret");
    let sms_server = sms_sim.start().await.unwrap();
    let mut sms = connection("acme", "sms", Sms, true);
    sms.base_url = format!("{}/results", sms_server.base_url);
    stores.connections.save_connection(&sms).await.unwrap();
    for (secret, value) in [(&conn, SAMPLE_TOKEN), (&sms, "sms-secret")] {
        stores
            .secrets
            .put(
                &secret.secret_name(&system.config.secret_prefix),
                &SecretString::from(value),
            )
            .await
            .unwrap();
    }
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

/// Every delivery of the tenant's SMS connection, in any state.
async fn all_deliveries(stores: &cloud::Stores) -> Vec<domain::delivery::Delivery> {
    let (t, sms) = (
        TenantId::parse("acme").unwrap(),
        ConnectionId::parse("sms").unwrap(),
    );
    let mut all = Vec::new();
    for state in DeliveryState::ALL {
        all.extend(
            stores
                .deliveries
                .by_state(&t, &sms, state, 100)
                .await
                .unwrap(),
        );
    }
    all
}
