//! The probe's fault mix, end to end: a Moodle that answers 20% of calls with
//! HTTP 503 and lets 5% hang past the client's timeout (seeded, so a run's
//! faults repeat), one offering of `learners` new learners pushed out by the
//! nightly export, half of them graded in Moodle, and the next night's results
//! download. Everything runs as the product runs: the nightly schedule's
//! handler, then the queue pollers of the local runner over moto (each function
//! with its own role), with SQS's redelivery after the visibility timeout and
//! the template's redrive to the dead-letter queues after 5 receives.
//!
//! Used by `tests/tests/faults.rs` (60 learners, in CI) and by
//! `cargo bench -p tests --bench faults` (2,000 learners, figures printed).

#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use chrono::{Duration as TimeDelta, NaiveDate, Utc};
use cloud::testing::connection;
use devstack::runner::{LocalSystem, PollReport};
use domain::ConnectionKind::{Moodle, Sms};
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::ports::{ConnectionStore, LinkStore, ResultStore, RunStore, SisStore};
use domain::results::{MappedActivity, Mapping, ReviewState};
use domain::sis::*;
use domain::{AssessableId, ConnectionId, Job, LearnerCode, OfferingId, RunStatus, TenantId};
use secrecy::SecretString;
use simulators::moodle::{MoodleSim, SAMPLE_TOKEN, Switches};
use simulators::sms::SmsSim;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

/// The fault mix and its scale.
#[derive(Debug, Clone)]
pub struct FaultMix {
    pub learners: usize,
    /// Share of Moodle calls answered HTTP 503 (nothing done).
    pub error_rate: f64,
    /// Share of Moodle calls done but whose answer hangs for `hang`.
    pub hang_rate: f64,
    pub hang: Duration,
    /// The functions' Moodle HTTP timeout (`MOODLE_TIMEOUT_SECONDS`), below `hang`.
    pub client_timeout: Duration,
    /// The queues' visibility timeout: how soon SQS hands a failed job out again
    /// (the template's 1,800 s, compressed so the test waits seconds).
    pub visibility: Duration,
    /// Gives up waiting for the queues after this long.
    pub limit: Duration,
    pub seed: u64,
}

impl FaultMix {
    /// The probe's mix: 20% 503s, 5% hangs longer than the client's timeout.
    pub fn probe(learners: usize) -> Self {
        Self {
            learners,
            error_rate: 0.20,
            hang_rate: 0.05,
            hang: Duration::from_secs(3),
            client_timeout: Duration::from_secs(1),
            visibility: Duration::from_secs(3),
            limit: Duration::from_secs(600),
            seed: 16_05,
        }
    }
}

/// What one night did.
#[derive(Debug, Clone, Default)]
pub struct Night {
    pub wall: Duration,
    /// Moodle calls received (faulted ones included), per function.
    pub calls: BTreeMap<String, usize>,
    pub unavailable: usize,
    pub hangs: usize,
    /// Jobs handled by the pollers, and those reported back for SQS to retry.
    pub jobs: PollReport,
    /// The connection's runs by final status (or Importing).
    pub runs: BTreeMap<String, usize>,
    /// Whether the queues emptied within the limit.
    pub finished: bool,
}

/// The figures of a whole fault-mix scenario.
#[derive(Debug, Clone, Default)]
pub struct FaultReport {
    pub export: Night,
    /// The nights after the export, run only while a learner is not in Moodle
    /// yet (a look-up Moodle never answered leaves its learner for the next
    /// night, named in a warning): the product's next nights, before grading.
    pub export_catch_up: Vec<Night>,
    pub download: Night,
    /// Learners with a Moodle account and an enrolment in the course.
    pub transferred: usize,
    /// Transfers not transferred, with their state and reason.
    pub not_transferred: Vec<String>,
    /// Learners graded in Moodle, those with a result saved after the
    /// download night, and after the catch-up nights (if any were needed).
    pub graded: usize,
    pub results_first_night: usize,
    pub results: usize,
    /// The nights after the download, run only while a graded learner has no result.
    pub catch_up: Vec<Night>,
    /// Deliveries the SMS accepted, and accepted twice.
    pub delivered: usize,
    pub delivered_twice: usize,
    /// Messages in the dead-letter queues, and those whose run shows no reason.
    pub dead_letters: usize,
    pub dead_letters_without_reason: Vec<String>,
    /// Moodle users with the same idnumber, and enrolments of one user in one
    /// enrol instance more than once.
    pub duplicate_users: usize,
    pub duplicate_enrolments: usize,
    /// Runs not in a final status, with their last log line.
    pub unfinished_runs: Vec<String>,
    /// Runs that finished with error, with their first error line.
    pub failed_runs: Vec<String>,
}

impl FaultReport {
    /// The figures as printed by the bench.
    pub fn print(&self, mix: &FaultMix) {
        println!(
            "fault mix: {} learners, Moodle {:.0}% HTTP 503, {:.0}% hangs of {:?} (client timeout {:?}), seed {}",
            mix.learners,
            mix.error_rate * 100.0,
            mix.hang_rate * 100.0,
            mix.hang,
            mix.client_timeout,
            mix.seed
        );
        let catch_up = self
            .catch_up
            .iter()
            .enumerate()
            .map(|(i, night)| (format!("catch-up night {}", i + 1), night));
        let export_catch_up = self
            .export_catch_up
            .iter()
            .enumerate()
            .map(|(i, night)| (format!("export catch-up night {}", i + 1), night));
        let nights = [("export".to_string(), &self.export)]
            .into_iter()
            .chain(export_catch_up)
            .chain([("download".to_string(), &self.download)])
            .chain(catch_up);
        for (name, night) in nights {
            let total: usize = night.calls.values().sum();
            println!(
                "{name}: wall {:.1} s, Moodle calls {total} ({} answered 503, {} hung), jobs {} handled / {} retried by SQS, runs {:?}, queues emptied: {}",
                night.wall.as_secs_f64(),
                night.unavailable,
                night.hangs,
                night.jobs.handled,
                night.jobs.failed,
                night.runs,
                night.finished
            );
            for (function, n) in &night.calls {
                println!("    {function}: {n}");
            }
        }
        println!(
            "transferred {} of {}; not transferred: {:?}",
            self.transferred, mix.learners, self.not_transferred
        );
        println!(
            "graded {}, results saved {} after the download night and {} after {} catch-up night(s), deliveries accepted by the SMS {} (twice: {})",
            self.graded,
            self.results_first_night,
            self.results,
            self.catch_up.len(),
            self.delivered,
            self.delivered_twice
        );
        println!(
            "dead letters {} (without a reason on a run: {:?}); duplicate Moodle users {}, duplicate enrolments {}; unfinished runs {:?}",
            self.dead_letters,
            self.dead_letters_without_reason,
            self.duplicate_users,
            self.duplicate_enrolments,
            self.unfinished_runs
        );
        println!("runs finished with error: {:?}", self.failed_runs);
    }
}

const TENANT: &str = "acme";
const CONNECTION: &str = "moodle-main";
const OFFERING: &str = "OCC-1001";
const COURSE: i64 = 2;
const QUIZ_CMID: i64 = 1;

fn code(i: usize) -> LearnerCode {
    LearnerCode::parse(format!("FM{i:05}")).expect("a learner code")
}

/// Runs the scenario and returns its figures; asserts nothing.
pub async fn run(mix: &FaultMix) -> FaultReport {
    let system = crate::local_system_with(|config| {
        config.moodle_timeout = Some(mix.client_timeout);
    })
    .await;
    let sdk = cloud::testing::sdk().await;
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    for (_, url) in system.config.queues.iter() {
        sqs.set_queue_attributes()
            .queue_url(url)
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
                mix.visibility.as_secs().to_string(),
            )
            .send()
            .await
            .expect("the queue's visibility timeout");
    }
    let moodle = MoodleSim::sample_site();
    let moodle_server = moodle.start().await.expect("the Moodle simulator");
    let sms = SmsSim::new("sms-secret");
    let sms_server = sms.start().await.expect("the SMS simulator");
    seed(
        &system,
        &moodle_server.base_url,
        &sms_server.base_url,
        mix.learners,
    )
    .await;

    moodle.seed_faults(mix.seed);
    moodle.set_hang(mix.hang);
    moodle.set_switches(Switches {
        error_rate: mix.error_rate,
        timeout_rate: mix.hang_rate,
        ..Switches::default()
    });

    let (t, c, o) = ids();
    let now = Utc::now();
    let mut report = FaultReport {
        export: night(&system, &sqs, &moodle, mix, now).await,
        ..FaultReport::default()
    };

    // A learner whose look-up Moodle never answered is left for the next night:
    // the product's next nights push them (at most two) before the teacher grades.
    let in_moodle = |moodle: &MoodleSim| {
        let snapshot = moodle.snapshot();
        let idnumbers: HashSet<&str> = snapshot.users.iter().map(|u| u.idnumber.as_str()).collect();
        (0..mix.learners).all(|i| idnumbers.contains(code(i).as_str()))
    };
    let mut day = 0;
    while day < 2 && !in_moodle(&moodle) {
        day += 1;
        report
            .export_catch_up
            .push(night(&system, &sqs, &moodle, mix, now + TimeDelta::days(day)).await);
    }

    // Half the learners pass the quiz in Moodle (faults off while the teacher grades).
    let snapshot = moodle.snapshot();
    let by_idnumber: HashMap<&str, i64> = snapshot
        .users
        .iter()
        .map(|u| (u.idnumber.as_str(), u.id))
        .collect();
    let graded_at = (Utc::now() + TimeDelta::days(day) - TimeDelta::hours(1)).timestamp();
    let mut graded = Vec::new();
    for i in (0..mix.learners).step_by(2) {
        if let Some(id) = by_idnumber.get(code(i).as_str()) {
            moodle.set_grade(*id, QUIZ_CMID, Some(8.0), graded_at);
            graded.push(code(i));
        }
    }
    report.graded = graded.len();

    report.download = night(&system, &sqs, &moodle, mix, now + TimeDelta::days(day + 1)).await;

    // What a person would look at. A learner whose read failed every try is
    // named in a warning and read again the next night (results progress): the
    // scenario runs up to two more nights until every graded learner has a result.
    let stores = system.stores();
    let u1 = AssessableId::parse("U1").unwrap();
    let results_saved = || async {
        let mut saved = 0;
        for learner in &graded {
            if let Some(result) = stores.results.result(&t, &o, learner, &u1).await.unwrap()
                && result.state == ReviewState::Done
            {
                saved += 1;
            }
        }
        saved
    };
    report.results_first_night = results_saved().await;
    report.results = report.results_first_night;
    for day in day + 2..=day + 3 {
        if report.results >= report.graded {
            break;
        }
        report
            .catch_up
            .push(night(&system, &sqs, &moodle, mix, now + TimeDelta::days(day)).await);
        report.results = results_saved().await;
    }
    for transfer in stores.links.transfers(&t, &c, &o).await.unwrap() {
        if transfer.status == TransferStatus::Transferred {
            report.transferred += 1;
        } else {
            report
                .not_transferred
                .push(format!("{}: {:?}", transfer.learner, transfer.status));
        }
    }
    let accepted = sms.accepted();
    report.delivered = accepted.len();
    let mut keys = HashSet::new();
    report.delivered_twice = accepted
        .iter()
        .filter(|a| !keys.insert(a.idempotency_key.clone()))
        .count();

    let snapshot = moodle.snapshot();
    let mut idnumbers = HashSet::new();
    report.duplicate_users = snapshot
        .users
        .iter()
        .filter(|u| !u.deleted && !u.idnumber.is_empty())
        .filter(|u| !idnumbers.insert(u.idnumber.clone()))
        .count();
    let mut enrolments = HashSet::new();
    report.duplicate_enrolments = snapshot
        .user_enrolments
        .iter()
        .filter(|e| !enrolments.insert((e.enrolid, e.userid)))
        .count();

    for run in stores.runs.runs_of(&t, &c, 100).await.unwrap() {
        if run.status == RunStatus::FinishedWithError {
            let log = stores.runs.log(&t, &c, &run.id).await.unwrap();
            if let Some(line) = log.iter().find(|l| l.level == domain::LogLevel::Error) {
                report
                    .failed_runs
                    .push(format!("{}: {}", run.id, line.message));
            }
        }
        if run.status == RunStatus::Importing {
            let log = stores.runs.log(&t, &c, &run.id).await.unwrap();
            report.unfinished_runs.push(format!(
                "{}: {}",
                run.id,
                log.last().map(|l| l.message.as_str()).unwrap_or("(no log)")
            ));
        }
    }
    let (dead, without) = dead_letters(&system, &sqs).await;
    report.dead_letters = dead;
    report.dead_letters_without_reason = without;
    drop((moodle_server, sms_server));
    report
}

fn ids() -> (TenantId, ConnectionId, OfferingId) {
    (
        TenantId::parse(TENANT).unwrap(),
        ConnectionId::parse(CONNECTION).unwrap(),
        OfferingId::parse(OFFERING).unwrap(),
    )
}

/// Fires the nightly schedule for `at` and runs the queues until they are empty
/// (failed jobs come back after the visibility timeout) or the limit passes.
async fn night(
    system: &LocalSystem,
    sqs: &aws_sdk_sqs::Client,
    moodle: &MoodleSim,
    mix: &FaultMix,
    at: chrono::DateTime<Utc>,
) -> Night {
    let before_calls = moodle.calls().len();
    let before_faults = moodle.injected_faults();
    let started = Instant::now();
    system.fire_nightly(at).await.expect("the nightly schedule");
    let mut jobs = PollReport::default();
    let mut finished = false;
    while started.elapsed() < mix.limit {
        match system.drain().await {
            Ok(pass) => {
                jobs.handled += pass.handled;
                jobs.failed += pass.failed;
            }
            Err(error) => eprintln!("polling failed (trying again): {error}"),
        }
        if pending(system, sqs).await == 0 {
            finished = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let wall = started.elapsed();
    let mut calls = BTreeMap::new();
    for call in moodle.calls().into_iter().skip(before_calls) {
        *calls.entry(call.function).or_insert(0) += 1;
    }
    let faults = moodle.injected_faults();
    let (t, c, _) = ids();
    let mut runs = BTreeMap::new();
    for run in system.stores().runs.runs_of(&t, &c, 100).await.unwrap() {
        *runs.entry(run.status.label().to_owned()).or_insert(0) += 1;
    }
    Night {
        wall,
        calls,
        unavailable: faults.unavailable - before_faults.unavailable,
        hangs: faults.hangs - before_faults.hangs,
        jobs,
        runs,
        finished,
    }
}

/// Messages waiting, in flight or delayed on the functions' queues.
async fn pending(system: &LocalSystem, sqs: &aws_sdk_sqs::Client) -> usize {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let mut total = 0;
    for (_, url) in system.config.queues.iter() {
        let Ok(out) = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
        else {
            return usize::MAX;
        };
        total += out
            .attributes()
            .map(|a| {
                a.values()
                    .filter_map(|v| v.parse::<usize>().ok())
                    .sum::<usize>()
            })
            .unwrap_or(0);
    }
    total
}

/// Every message in the dead-letter queues, and those whose job's run is not
/// finished with an error line saying why.
async fn dead_letters(system: &LocalSystem, sqs: &aws_sdk_sqs::Client) -> (usize, Vec<String>) {
    let stores = system.stores();
    let mut count = 0;
    let mut without = Vec::new();
    for (_, url) in system.config.queues.iter() {
        let dlq = format!("{url}-dlq");
        loop {
            let Ok(out) = sqs
                .receive_message()
                .queue_url(&dlq)
                .max_number_of_messages(10)
                .visibility_timeout(600)
                .send()
                .await
            else {
                without.push(format!("{dlq} could not be read"));
                break;
            };
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            for m in messages {
                count += 1;
                let body = m.body.unwrap_or_default();
                let reason = match serde_json::from_str::<Job>(&body) {
                    Ok(
                        Job::SyncConnection {
                            tenant,
                            connection,
                            run,
                            ..
                        }
                        | Job::FetchResults {
                            tenant,
                            connection,
                            run,
                            ..
                        }
                        | Job::PushOffering {
                            tenant,
                            connection,
                            run,
                            ..
                        },
                    ) => {
                        let stored = stores.runs.run(&tenant, &connection, &run).await.ok();
                        let log = stores
                            .runs
                            .log(&tenant, &connection, &run)
                            .await
                            .unwrap_or_default();
                        matches!(stored.flatten(), Some(r) if r.status == RunStatus::FinishedWithError)
                            && log.iter().any(|l| l.level == domain::LogLevel::Error)
                    }
                    _ => false,
                };
                if !reason {
                    without.push(body);
                }
            }
        }
    }
    (count, without)
}

/// The connection (the Moodle simulator's token), the SMS, the offering with
/// unit U1 mapped to the quiz, `learners` learners with not-called enrolments,
/// and the offering linked to course 2.
async fn seed(system: &LocalSystem, moodle_url: &str, sms_url: &str, learners: usize) {
    let stores = system.stores();
    let (t, c, o) = ids();
    let mut conn = connection(TENANT, CONNECTION, Moodle, true);
    conn.base_url = moodle_url.to_owned();
    conn.settings = ConnectionSettings::Moodle(MoodleSettings {
        review_before_saving: false,
        use_enrolment_start_date: true,
        ..MoodleSettings::default()
    });
    stores.connections.save_connection(&conn).await.unwrap();
    let mut sms = connection(TENANT, "sms", Sms, true);
    sms.base_url = format!("{sms_url}/results");
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
    let start = NaiveDate::from_ymd_opt(2026, 2, 1);
    let u1 = AssessableId::parse("U1").unwrap();
    stores
        .sis
        .save_offering(&Offering {
            tenant: t.clone(),
            id: o.clone(),
            name: "Accounting".into(),
            start_date: start,
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![Assessable {
                id: u1.clone(),
                name: "Unit 1".into(),
                kind: AssessableKind::Unit,
                expected_start_date: None,
            }],
            updated_at: now,
        })
        .await
        .unwrap();
    for i in 0..learners {
        let learner = code(i);
        stores
            .sis
            .save_learner(&Learner {
                tenant: t.clone(),
                code: learner.clone(),
                username: None,
                given_name: format!("Given{i}"),
                middle_name: None,
                family_name: format!("Family{i}"),
                email: Some(format!("fm{i:05}@example.com")),
                date_of_birth: None,
                archived: false,
                email_opt_out: true,
                updated_at: now,
            })
            .await
            .unwrap();
        stores
            .sis
            .save_enrolment(&Enrolment {
                tenant: t.clone(),
                learner,
                offering: o.clone(),
                state: EnrolmentState::NotCalled,
                start_date: start,
                session_date: None,
                updated_at: now,
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
            course_id: COURSE,
            course_idnumber: Some(OFFERING.into()),
            course_shortname: Some(OFFERING.into()),
            linked_at: now,
        })
        .await
        .unwrap();
    stores
        .results
        .save_mapping(&Mapping {
            tenant: t,
            offering: o,
            connection: c,
            assessable: u1,
            activities: vec![MappedActivity {
                cmid: QUIZ_CMID,
                modname: "quiz".into(),
            }],
            updated_at: now,
        })
        .await
        .unwrap();
}
