//! Results fetch end to end: the local runner over moto and the Moodle
//! simulator. Grades are set in the simulator, the nightly run fires, the
//! queues drain: results are stored, approved automatically (review off) and
//! become deliveries to the SMS; the completed course completes the enrolment.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chrono::{Duration, NaiveDate, Utc};
use cloud::testing::connection;
use domain::ConnectionKind::Sms;
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::delivery::{DeliveryKind, DeliveryState};
use domain::ports::{ConnectionStore, DeliveryStore, LinkStore, ResultStore, RunStore, SisStore};
use domain::results::{MappedActivity, Mapping, ResultType, ReviewState};
use domain::sis::*;
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN};

mod completions;
mod download;
mod progress;

/// For tenant acme: the Moodle connection moodle-main to the simulator at
/// `base_url` with `settings` and the sample token as its secret, and a plain
/// SMS connection `sms`.
async fn moodle_and_sms(
    system: &devstack::runner::LocalSystem,
    base_url: &str,
    settings: MoodleSettings,
) {
    tests::moodle_main(system, base_url, SAMPLE_TOKEN, settings).await;
    system
        .stores()
        .connections
        .save_connection(&connection("acme", "sms", Sms, true))
        .await
        .unwrap();
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
