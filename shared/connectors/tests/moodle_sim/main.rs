//! The Moodle client against the Moodle simulator (`simulators::moodle`): every
//! function, every recorded error case, batch isolation, retries, timeouts and
//! `max_input_vars`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests: a failed expectation is a failed test

use connectors::egress::Egress;
use connectors::moodle::types::*;
use connectors::moodle::*;
use secrecy::SecretString;
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN, Switches};
use simulators::server::RunningServer;
use std::time::{Duration, Instant};

struct Site {
    sim: MoodleSim,
    server: RunningServer,
    client: MoodleClient,
}

fn quick_config(base_url: &str) -> MoodleConfig {
    // The simulator listens on 127.0.0.1.
    let mut config = MoodleConfig::new(base_url).with_egress(Egress::AllowInternal);
    config.timeout = Duration::from_secs(5);
    config.retry = RetryPolicy {
        max_retries: 3,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_elapsed: Duration::from_secs(10),
    };
    config
}

fn client_with(base_url: &str, token: &str, tweak: impl FnOnce(&mut MoodleConfig)) -> MoodleClient {
    let mut config = quick_config(base_url);
    tweak(&mut config);
    MoodleClient::new(config, MoodleAuth::Token(SecretString::from(token))).unwrap()
}

async fn site() -> Site {
    site_with(|_| {}).await
}

async fn site_with(tweak: impl FnOnce(&mut MoodleConfig)) -> Site {
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let client = client_with(&server.base_url, SAMPLE_TOKEN, tweak);
    Site {
        sim,
        server,
        client,
    }
}

fn strong() -> SecretString {
    SecretString::from("Sample#1234")
}

fn learner(i: usize) -> NewUser {
    NewUser::new(
        format!("learner{i:04}"),
        "Lee",
        format!("Learner{i}"),
        format!("learner{i:04}@example.com"),
    )
    .with_idnumber(format!("LRN-{i:04}"))
    .with_auth("manual")
    .with_password(strong())
}

fn only_error<T: std::fmt::Debug>(outcome: &BatchOutcome<T>) -> &MoodleError {
    let failed: Vec<_> = outcome.failed().collect();
    assert_eq!(failed.len(), 1, "{outcome:?}");
    failed[0].1
}

mod courses;
mod grades;
mod site;
mod transport;
mod users;
