//! The results use cases over in-memory ports and a scripted grade source.

use super::*;
use crate::testing::*;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use chrono::{NaiveDate, TimeZone};
use domain::connection::SmsSettings;
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::delivery::DeliveryKind;
use domain::learning::LearningError;
use domain::ports::{
    GradeSource, GradeSources, LinkStore, ResultStore, Retryable, RunStore, SisStore,
};
use domain::results::{
    ActivityCompletion, CompletionState, CourseCompletionRead, CriterionStatus, ItemGrade,
};
use domain::results::{
    Adjustment, CourseActivity, LearnerGrades, MappingError, Participant, ResultType, RetryEntry,
    ReviewError, ReviewState, StoredResult,
};
use domain::sis::{Assessable, AssessableKind, Enrolment, Learner, OfferingStatus};
use domain::sis::{CourseLink, EnrolmentState, ExternalAccount, Offering};
use domain::{
    AssessableId, Connection, ConnectionId, LearnerCode, LogLevel, OfferingId, RunId, RunLogLine,
    TenantId,
};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::{AtomicBool, Ordering};

/// A scripted Moodle course: grades per user, completions, and call counts.
#[derive(Default)]
struct Course {
    grades: Mutex<Vec<LearnerGrades>>,
    completion: Mutex<BTreeMap<i64, Vec<(i64, ActivityCompletion)>>>,
    course_completion: Mutex<BTreeMap<i64, CourseCompletionRead>>,
    participants: Mutex<Vec<Participant>>,
    failing_user: Mutex<Option<i64>>,
    failing_grades: AtomicBool,
    failing_unenrol: AtomicBool,
    /// The course has no completion criteria (Moodle: `nocriteriaset`).
    no_criteria: AtomicBool,
    /// Reads and unenrolments in the order they happened.
    events: Mutex<Vec<String>>,
    grade_calls: AtomicUsize,
    pass_calls: AtomicUsize,
    completion_calls: AtomicUsize,
    course_completion_calls: AtomicUsize,
    unenrolled: Mutex<Vec<i64>>,
}

#[async_trait]
impl GradeSource for Course {
    async fn course_activities(&self, _course: i64) -> Result<Vec<CourseActivity>, LearningError> {
        Ok(vec![
            CourseActivity::new(1, "quiz", "Quiz"),
            CourseActivity::new(2, "assign", "Essay"),
            CourseActivity::new(3, "forum", "News"),
        ])
    }
    async fn course_grades(&self, _course: i64) -> Result<Vec<LearnerGrades>, LearningError> {
        self.grade_calls.fetch_add(1, Ordering::Relaxed);
        if self.failing_grades.load(Ordering::Relaxed) {
            return Err(LearningError::Unavailable("timed out".into()));
        }
        Ok(self.grades.lock().unwrap().clone())
    }
    async fn pass_grade(&self, _cmid: i64) -> Result<Option<f64>, LearningError> {
        self.pass_calls.fetch_add(1, Ordering::Relaxed);
        Ok(Some(50.0))
    }
    async fn activities_completion(
        &self,
        _course: i64,
        user: i64,
    ) -> Result<Vec<(i64, ActivityCompletion)>, LearningError> {
        self.completion_calls.fetch_add(1, Ordering::Relaxed);
        self.events.lock().unwrap().push(format!("read {user}"));
        if *self.failing_user.lock().unwrap() == Some(user) {
            return Err(LearningError::Unavailable("timed out".into()));
        }
        Ok(self
            .completion
            .lock()
            .unwrap()
            .get(&user)
            .cloned()
            .unwrap_or_default())
    }
    async fn course_completion(
        &self,
        _course: i64,
        user: i64,
    ) -> Result<CourseCompletionRead, LearningError> {
        self.course_completion_calls.fetch_add(1, Ordering::Relaxed);
        if self.no_criteria.load(Ordering::Relaxed) {
            return Ok(CourseCompletionRead::default());
        }
        // A course with criteria: a learner not scripted has met none yet.
        Ok(self
            .course_completion
            .lock()
            .unwrap()
            .get(&user)
            .cloned()
            .unwrap_or(CourseCompletionRead {
                untracked: false,
                completed: false,
                criteria: vec![CriterionStatus {
                    complete: false,
                    completed_at: None,
                }],
            }))
    }
    async fn unenrol(&self, _course: i64, user: i64) -> Result<(), LearningError> {
        if self.failing_unenrol.load(Ordering::Relaxed) {
            return Err(LearningError::Unavailable("timed out".into()));
        }
        self.events.lock().unwrap().push(format!("unenrol {user}"));
        self.unenrolled.lock().unwrap().push(user);
        Ok(())
    }
    async fn participants(&self, _course: i64) -> Result<Vec<Participant>, LearningError> {
        Ok(self.participants.lock().unwrap().clone())
    }
}

fn t() -> TenantId {
    TenantId::parse("acme").unwrap()
}
fn c() -> ConnectionId {
    ConnectionId::parse("moodle").unwrap()
}
fn o() -> OfferingId {
    OfferingId::parse("OFF-1").unwrap()
}
fn u1() -> AssessableId {
    AssessableId::parse("U1").unwrap()
}
fn code(i: i64) -> LearnerCode {
    LearnerCode::parse(format!("L{i}")).unwrap()
}
fn at(day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, day, 9, 0, 0).unwrap()
}
fn run() -> RunId {
    RunId::parse("run-1").unwrap()
}

struct World {
    connections: MemConnections,
    sis: MemSis,
    links: MemLinks,
    results: MemResults,
    deliveries: MemDeliveries,
    queue: MemQueue,
    runs: MemRuns,
    tenants: MemTenants,
    course: Course,
    connection: Connection,
}

impl World {
    fn results(&self) -> Results<'_> {
        Results {
            connections: &self.connections,
            sis: &self.sis,
            links: &self.links,
            results: &self.results,
            deliveries: &self.deliveries,
            queue: &self.queue,
            runs: &self.runs,
            tenants: &self.tenants,
        }
    }
    async fn fetch(&self, now: DateTime<Utc>) -> FetchCounts {
        let stop = AtomicBool::new(false);
        self.results()
            .fetch(&self.connection, &self.course, None, &run(), &stop, now)
            .await
            .unwrap()
    }
    fn result(&self, l: i64) -> Option<StoredResult> {
        self.results
            .results
            .lock()
            .unwrap()
            .get(&(o(), code(l), u1()))
            .cloned()
    }
    fn grade(&self, user: i64, cmid: i64, grade: f64, day: u32) {
        let mut all = self.course.grades.lock().unwrap();
        let g = all.iter_mut().find(|g| g.user == user).unwrap();
        g.items.retain(|i| i.cmid != cmid);
        g.items.push(ItemGrade {
            cmid,
            grade: Some(grade),
            max_grade: Some(100.0),
            graded_at: Some(at(day)),
            ..ItemGrade::default()
        });
        // Moodle marks the activity complete when it is graded.
        let mut completion = self.course.completion.lock().unwrap();
        let states = completion.entry(user).or_default();
        states.retain(|(c, _)| *c != cmid);
        states.push((
            cmid,
            ActivityCompletion {
                state: CompletionState::Complete,
                completed_at: Some(at(day)),
            },
        ));
    }
}

/// `n` learners (Moodle users 101..), enrolled, linked; U1 mapped to quiz 1 and assign 2.
async fn world(n: i64, settings: MoodleSettings, with_sms: bool) -> World {
    let connection = Connection {
        tenant: t(),
        id: c(),
        name: "Moodle".into(),
        base_url: "http://127.0.0.1:1".into(),
        enabled: true,
        error_email: None,
        settings: ConnectionSettings::Moodle(settings),
    };
    let connections = MemConnections::default();
    connections.0.lock().unwrap().push(connection.clone());
    if with_sms {
        connections.0.lock().unwrap().push(Connection {
            id: ConnectionId::parse("sms").unwrap(),
            settings: ConnectionSettings::Sms(SmsSettings::default()),
            ..connection.clone()
        });
    }
    let w = World {
        connections,
        sis: MemSis::default(),
        links: MemLinks::default(),
        results: MemResults::default(),
        deliveries: MemDeliveries::default(),
        queue: MemQueue::default(),
        runs: MemRuns::default(),
        tenants: MemTenants::default(),
        course: Course::default(),
        connection,
    };
    w.sis
        .save_offering(&Offering {
            tenant: t(),
            id: o(),
            name: "Offering".into(),
            start_date: None,
            end_date: None,
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: true,
            assessables: vec![Assessable {
                id: u1(),
                name: "Unit".into(),
                kind: AssessableKind::Unit,
                expected_start_date: None,
            }],
            updated_at: at(1),
        })
        .await
        .unwrap();
    w.links
        .save_link(&CourseLink {
            tenant: t(),
            offering: o(),
            connection: c(),
            course_id: 77,
            course_idnumber: None,
            course_shortname: None,
            linked_at: at(1),
        })
        .await
        .unwrap();
    for i in 0..n {
        w.sis
            .save_enrolment(&Enrolment {
                tenant: t(),
                learner: code(i),
                offering: o(),
                state: EnrolmentState::InProgress,
                start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
                session_date: None,
                updated_at: at(1),
            })
            .await
            .unwrap();
        w.links
            .save_account(&ExternalAccount {
                tenant: t(),
                connection: c(),
                learner: code(i),
                external_id: 101 + i,
                created_by_us: true,
                linked_at: at(1),
            })
            .await
            .unwrap();
        w.course.grades.lock().unwrap().push(LearnerGrades {
            user: 101 + i,
            items: Vec::new(),
            course_total: None,
            course_max: None,
        });
        w.course.participants.lock().unwrap().push(Participant {
            user: 101 + i,
            username: format!("user{i}"),
            idnumber: format!("L{i}"),
            last_access: None,
        });
    }
    w.results()
        .map(&w.course, &t(), &o(), &c(), &u1(), &[1, 2], at(1))
        .await
        .unwrap();
    w
}

fn settings(review: bool) -> MoodleSettings {
    MoodleSettings {
        review_before_saving: review,
        use_enrolment_start_date: true,
        course_completions: false,
        ..MoodleSettings::default()
    }
}

#[tokio::test]
async fn first_run_applies_the_rules_and_a_re_run_reads_only_changed_learners() {
    let w = world(4, settings(true), true).await;
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4); // L0: passed
    w.grade(102, 1, 80.0, 3);
    w.grade(102, 2, 40.0, 4); // L1: failed
    w.grade(103, 1, 80.0, 3); // L2: started
    let counts = w.fetch(at(10)).await;
    assert_eq!((counts.learners, counts.changed, counts.ready), (4, 4, 3));
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
    assert_eq!(
        w.result(0).unwrap().finish_date,
        NaiveDate::from_ymd_opt(2026, 3, 4)
    );
    assert_eq!(w.result(1).unwrap().result, ResultType::Failed);
    assert_eq!(w.result(2).unwrap().result, ResultType::Started);
    assert!(w.result(3).is_none(), "no grade: no result");
    assert_eq!(
        w.result(0).unwrap().state,
        ReviewState::Ready,
        "waits for review"
    );
    assert!(w.deliveries.0.lock().unwrap().is_empty());
    assert_eq!(w.course.grade_calls.load(Ordering::Relaxed), 1);
    assert_eq!(w.course.pass_calls.load(Ordering::Relaxed), 2);
    assert_eq!(w.course.completion_calls.load(Ordering::Relaxed), 4);
    assert_eq!(
        w.course.course_completion_calls.load(Ordering::Relaxed),
        0,
        "course completions off: not read"
    );

    // Re-run: one learner graded since; only they are read further.
    w.grade(104, 1, 90.0, 12);
    let counts = w.fetch(at(13)).await;
    assert_eq!((counts.learners, counts.changed), (4, 1));
    assert_eq!(w.course.grade_calls.load(Ordering::Relaxed), 2);
    assert_eq!(
        w.course.pass_calls.load(Ordering::Relaxed),
        4,
        "cached per run"
    );
    assert_eq!(w.course.completion_calls.load(Ordering::Relaxed), 5);
    assert_eq!(w.result(3).unwrap().result, ResultType::Started);
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    assert!(log.iter().any(|l| {
        l.message
            .starts_with("Results: 1 offerings, 4 learners, 1 read")
    }));

    // Process all: ready results become deliveries, done.
    let done = w.results().process_all(&t(), &c(), at(14)).await.unwrap();
    assert_eq!(done.results, 4);
    assert_eq!(w.deliveries.0.lock().unwrap().len(), 4);
    assert_eq!(w.result(0).unwrap().state, ReviewState::Done);

    // The SMS accepted them. A later attempt's grade never replaces a
    // delivered result (it is recorded on it); no second Started.
    for d in w.deliveries.0.lock().unwrap().values_mut() {
        d.state = domain::delivery::DeliveryState::Delivered;
    }
    w.grade(101, 2, 95.0, 15);
    w.grade(103, 1, 85.0, 15);
    w.fetch(at(16)).await;
    let first = w.result(0).unwrap();
    assert_eq!(
        (first.grade, first.grade_max),
        (Some(140.0), Some(200.0)),
        "the saved grade stays, raw out of the maximum"
    );
    let later = first.later.expect("the later attempt is recorded on it");
    assert_eq!((later.grade, later.grade_max), (Some(175.0), Some(200.0)));
    assert_eq!(w.result(2).unwrap().state, ReviewState::Done);
    assert_eq!(w.deliveries.0.lock().unwrap().len(), 4);
}

#[tokio::test]
async fn without_review_results_are_saved_to_the_sms_at_once() {
    let w = world(2, settings(false), true).await;
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4);
    let counts = w.fetch(at(10)).await;
    assert_eq!(counts.saved, 1);
    assert_eq!(w.result(0).unwrap().state, ReviewState::Done);
    let deliveries = w.deliveries.0.lock().unwrap();
    let d = deliveries.values().next().unwrap();
    assert_eq!(
        (d.kind, d.connection.as_str()),
        (DeliveryKind::Result, "sms")
    );
    assert_eq!(d.payload["result"], "passed");
    assert_eq!(w.queue.sent.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_missing_start_date_is_an_error_a_person_can_fix() {
    let w = world(
        1,
        MoodleSettings {
            use_enrolment_start_date: false,
            ..settings(true)
        },
        true,
    )
    .await;
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4);
    // Two activities mapped, none completed: no start date.
    w.course.completion.lock().unwrap().clear();
    let counts = w.fetch(at(10)).await;
    assert_eq!(counts.errors, 1);
    let r = w.result(0).unwrap();
    assert_eq!(r.state, ReviewState::Error);
    assert!(matches!(
        w.results()
            .process(&t(), &o(), &code(0), &u1(), at(11))
            .await,
        Err(ResultsError::Review(ReviewError::NotReady { .. }))
    ));
    let fixed = w
        .results()
        .adjust(
            &t(),
            &o(),
            &code(0),
            &u1(),
            &Adjustment {
                start_date: NaiveDate::from_ymd_opt(2026, 3, 1),
                ..Adjustment::default()
            },
            at(11),
        )
        .await
        .unwrap();
    assert_eq!(fixed.state, ReviewState::Ready);
    let done = w
        .results()
        .process(&t(), &o(), &code(0), &u1(), at(12))
        .await
        .unwrap();
    assert_eq!(done.state, ReviewState::Done);
    assert_eq!(w.deliveries.0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_failing_learner_is_retried_alone_while_the_watermark_moves_on() {
    let w = world(3, settings(true), true).await;
    for u in [101, 102, 103] {
        w.grade(u, 1, 80.0, 3);
        w.grade(u, 2, 80.0, 3);
    }
    *w.course.failing_user.lock().unwrap() = Some(102);
    let counts = w.fetch(at(10)).await;
    assert_eq!((counts.failures, counts.ready, counts.retries), (1, 2, 1));
    assert!(w.result(1).is_none());
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    let warning = log.iter().find(|l| l.level == LogLevel::Warning).unwrap();
    assert!(
        warning.message.starts_with("Learner L1 of offering OFF-1"),
        "{}",
        warning.message
    );
    assert_eq!(w.results.progress_of(&t(), &c()).0, Some(at(10)));
    let retry = RetryEntry {
        offering: o(),
        learner: Some(code(1)),
    };
    assert_eq!(w.results.progress_of(&t(), &c()).1, vec![retry.clone()]);

    // Still failing: only that learner is read again, not everyone.
    let counts = w.fetch(at(11)).await;
    assert_eq!((counts.changed, counts.failures), (1, 1));
    assert_eq!(w.results.progress_of(&t(), &c()).0, Some(at(11)));
    assert_eq!(w.results.progress_of(&t(), &c()).1, vec![retry]);

    // Moodle answers again: the learner's result comes, the retry set empties.
    *w.course.failing_user.lock().unwrap() = None;
    let counts = w.fetch(at(12)).await;
    assert_eq!((counts.failures, counts.changed, counts.ready), (0, 1, 1));
    assert_eq!(w.result(1).unwrap().result, ResultType::Passed);
    assert!(w.results.progress_of(&t(), &c()).1.is_empty());
    let counts = w.fetch(at(13)).await;
    assert_eq!(counts.changed, 0, "nothing left to read");
}

#[tokio::test]
async fn an_offering_that_could_not_be_read_is_read_whole_next_run() {
    let w = world(3, settings(true), true).await;
    w.fetch(at(10)).await;
    for u in [101, 102, 103] {
        w.grade(u, 1, 80.0, 3); // graded before the watermark
    }
    w.course.failing_grades.store(true, Ordering::Relaxed);
    let counts = w.fetch(at(11)).await;
    assert_eq!((counts.failures, counts.retries), (1, 1));
    assert_eq!(w.results.progress_of(&t(), &c()).0, Some(at(11)));
    w.course.failing_grades.store(false, Ordering::Relaxed);
    let counts = w.fetch(at(12)).await;
    assert_eq!(
        (counts.changed, counts.ready),
        (3, 3),
        "everyone of the offering, whatever the watermark"
    );
    assert!(w.results.progress_of(&t(), &c()).1.is_empty());
}

#[tokio::test]
async fn a_stopped_download_stops_and_keeps_the_watermark() {
    let w = world(3, settings(true), true).await;
    let stop = AtomicBool::new(true);
    let counts = w
        .results()
        .fetch(&w.connection, &w.course, None, &run(), &stop, at(10))
        .await
        .unwrap();
    assert!(counts.stopped);
    assert_eq!(w.course.grade_calls.load(Ordering::Relaxed), 0);
    assert_eq!(w.results.progress_of(&t(), &c()).0, None);
}

fn complete_course(w: &World, user: i64, days: &[u32]) {
    w.course.course_completion.lock().unwrap().insert(
        user,
        CourseCompletionRead {
            untracked: false,
            completed: true,
            criteria: days
                .iter()
                .map(|d| CriterionStatus {
                    complete: true,
                    completed_at: Some(at(*d)),
                })
                .collect(),
        },
    );
}

fn completion_delivery(w: &World) -> Option<domain::delivery::Delivery> {
    w.deliveries
        .0
        .lock()
        .unwrap()
        .values()
        .find(|d| d.kind == DeliveryKind::Completion)
        .cloned()
}

async fn enrolment_state(w: &World, l: i64) -> EnrolmentState {
    w.sis
        .enrolment(&t(), &o(), &code(l))
        .await
        .unwrap()
        .unwrap()
        .state
}

#[tokio::test]
async fn smartosh_without_review_records_attendance_and_evaluation_then_unenrols() {
    let s = MoodleSettings {
        course_completions: true,
        unenrol_after_completion: true,
        ..settings(false)
    };
    let w = world(2, s, true).await;
    w.grade(101, 1, 80.0, 3);
    w.course.grades.lock().unwrap()[0].course_total = Some(8.5);
    w.grade(102, 1, 30.0, 3);
    complete_course(&w, 101, &[4, 6]);
    w.course.completion.lock().unwrap().insert(
        101,
        vec![(
            2,
            ActivityCompletion {
                state: CompletionState::CompletePass,
                completed_at: Some(at(5)),
            },
        )],
    );
    let counts = w.fetch(at(10)).await;
    assert_eq!((counts.completions, counts.unenrolled), (1, 1));
    assert_eq!(*w.course.unenrolled.lock().unwrap(), vec![101]);
    assert_eq!(enrolment_state(&w, 0).await, EnrolmentState::Completed);
    let completion = completion_delivery(&w).unwrap();
    assert_eq!(completion.payload["attendance_date"], "2026-03-06");
    assert_eq!(completion.payload["attended"], true);
    assert_eq!(completion.payload["evaluation_grade"], 8.5);
    // The result was read and saved before the unenrolment.
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
    assert_eq!(
        w.result(0).unwrap().start_date,
        NaiveDate::from_ymd_opt(2026, 3, 5)
    );
    let events = w.course.events.lock().unwrap().clone();
    let read = events.iter().position(|e| e == "read 101").unwrap();
    let unenrol = events.iter().position(|e| e == "unenrol 101").unwrap();
    assert!(read < unenrol, "{events:?}");
    // A completed enrolment is not completed (or unenrolled) again.
    w.grade(101, 1, 90.0, 11);
    let counts = w.fetch(at(12)).await;
    assert_eq!((counts.completions, counts.unenrolled), (0, 0));
}

#[tokio::test]
async fn with_review_a_completion_waits_and_the_learner_keeps_moodle_until_it_is_processed() {
    let s = MoodleSettings {
        course_completions: true,
        unenrol_after_completion: true,
        ..settings(true)
    };
    let w = world(2, s, true).await;
    w.grade(101, 1, 80.0, 3);
    w.course.grades.lock().unwrap()[0].course_total = Some(8.5);
    complete_course(&w, 101, &[4, 6]);
    let counts = w.fetch(at(10)).await;
    assert_eq!((counts.completions, counts.unenrolled), (1, 0));
    assert!(completion_delivery(&w).is_none(), "waits for review");
    assert!(w.course.unenrolled.lock().unwrap().is_empty());
    assert_eq!(enrolment_state(&w, 0).await, EnrolmentState::InProgress);
    let listed = w
        .results()
        .list_completions(&t(), &c(), ReviewState::Ready, 10)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].learner.as_str(), listed[0].completed_at),
        ("L0", at(6))
    );

    // A re-run finds the same completion and changes nothing.
    let counts = w.fetch(at(11)).await;
    assert_eq!((counts.completions, counts.unenrolled), (0, 0));

    // A person moves the date, then processes all.
    let adjusted = w
        .results()
        .adjust_completion(
            &t(),
            &o(),
            &code(0),
            NaiveDate::from_ymd_opt(2026, 3, 7).unwrap(),
            at(12),
        )
        .await
        .unwrap();
    assert_eq!(adjusted.state, ReviewState::Ready);
    let done = w.results().process_all(&t(), &c(), at(12)).await.unwrap();
    assert_eq!(done.completions, 1);
    let delivery = completion_delivery(&w).unwrap();
    assert_eq!(delivery.payload["attendance_date"], "2026-03-07");
    assert_eq!(delivery.payload["evaluation_grade"], 8.5);
    assert_eq!(enrolment_state(&w, 0).await, EnrolmentState::Completed);
    assert!(
        w.course.unenrolled.lock().unwrap().is_empty(),
        "the API does not call Moodle"
    );
    assert!(matches!(
        w.results()
            .adjust_completion(
                &t(),
                &o(),
                &code(0),
                NaiveDate::from_ymd_opt(2026, 3, 8).unwrap(),
                at(12)
            )
            .await,
        Err(ResultsError::Review(ReviewError::AlreadySaved))
    ));

    // The next download reads the learner (nothing changed in Moodle), then unenrols.
    w.course.events.lock().unwrap().clear();
    let counts = w.fetch(at(13)).await;
    assert_eq!((counts.changed, counts.unenrolled), (1, 1));
    assert_eq!(
        *w.course.events.lock().unwrap(),
        vec!["read 101".to_owned(), "unenrol 101".to_owned()]
    );
    let stored = w
        .results
        .completion(&t(), &o(), &code(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.unenrolled_at, Some(at(13)));
    let counts = w.fetch(at(14)).await;
    assert_eq!((counts.changed, counts.unenrolled), (0, 0));
}

#[tokio::test]
async fn a_failed_unenrolment_keeps_the_approved_completion_and_is_tried_next_run() {
    let s = MoodleSettings {
        course_completions: true,
        unenrol_after_completion: true,
        ..settings(false)
    };
    let w = world(1, s, true).await;
    w.grade(101, 1, 80.0, 3);
    complete_course(&w, 101, &[6]);
    w.course.failing_unenrol.store(true, Ordering::Relaxed);
    let counts = w.fetch(at(10)).await;
    assert_eq!(
        (counts.completions, counts.unenrolled, counts.failures),
        (1, 0, 1)
    );
    assert!(completion_delivery(&w).is_some(), "the completion is kept");
    let stored = w
        .results
        .completion(&t(), &o(), &code(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.state, stored.unenrolled_at),
        (ReviewState::Done, None)
    );
    w.course.failing_unenrol.store(false, Ordering::Relaxed);
    let counts = w.fetch(at(11)).await;
    assert_eq!((counts.unenrolled, counts.failures), (1, 0));
    assert_eq!(
        w.deliveries.0.lock().unwrap().len(),
        2,
        "one result, one completion"
    );
}

#[tokio::test]
async fn a_learner_enrolled_by_hand_is_identified_by_idnumber_or_username() {
    let w = world(1, settings(true), true).await;
    // L8: enrolled in Moodle by hand, idnumber = learner code; L9: by username.
    for (l, user, username, idnumber) in [(8, 208, "someone", "L8"), (9, 209, "hand.made", "")] {
        w.sis
            .save_enrolment(&Enrolment {
                tenant: t(),
                learner: code(l),
                offering: o(),
                state: EnrolmentState::InProgress,
                start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
                session_date: None,
                updated_at: at(1),
            })
            .await
            .unwrap();
        w.sis
            .save_learner(&Learner {
                tenant: t(),
                code: code(l),
                username: Some(if l == 9 {
                    "Hand.Made".into()
                } else {
                    "other".into()
                }),
                given_name: "A".into(),
                middle_name: None,
                family_name: "B".into(),
                email: None,
                date_of_birth: None,
                archived: false,
                email_opt_out: false,
                updated_at: at(1),
            })
            .await
            .unwrap();
        w.course.participants.lock().unwrap().push(Participant {
            user,
            username: username.into(),
            idnumber: idnumber.into(),
            last_access: None,
        });
        w.course.grades.lock().unwrap().push(LearnerGrades {
            user,
            items: Vec::new(),
            course_total: None,
            course_max: None,
        });
        w.grade(user, 1, 80.0, 3);
        w.grade(user, 2, 80.0, 3);
    }
    let counts = w.fetch(at(10)).await;
    assert_eq!((counts.learners, counts.ready), (3, 2));
    assert_eq!(w.result(8).unwrap().result, ResultType::Passed);
    assert_eq!(w.result(9).unwrap().result, ResultType::Passed);
    let accounts = w
        .links
        .accounts(&t(), &c(), &[code(8), code(9)])
        .await
        .unwrap();
    let mut ids: Vec<(String, i64, bool)> = accounts
        .iter()
        .map(|a| (a.learner.to_string(), a.external_id, a.created_by_us))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        vec![("L8".into(), 208, false), ("L9".into(), 209, false)]
    );
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    assert!(
        log.iter().any(|l| l
            .message
            .contains("L9 of offering OFF-1 identified as participant 209")
            && l.message.contains("by username")),
        "{log:?}"
    );
}

#[tokio::test]
async fn a_completion_without_a_grade_change_is_seen_from_the_course_access() {
    let s = MoodleSettings {
        course_completions: true,
        ..settings(false)
    };
    let w = world(3, s, true).await;
    w.grade(101, 1, 80.0, 3); // started, graded long ago
    let counts = w.fetch(at(10)).await;
    assert_eq!(counts.changed, 3);
    // L0 opens the course and completes the assignment (marked done, no
    // grade); Moodle's cron marks the course complete. No grade changed.
    w.course.completion.lock().unwrap().insert(
        101,
        vec![
            (
                1,
                ActivityCompletion {
                    state: CompletionState::Complete,
                    completed_at: Some(at(3)),
                },
            ),
            (
                2,
                ActivityCompletion {
                    state: CompletionState::CompletePass,
                    completed_at: Some(at(11)),
                },
            ),
        ],
    );
    w.course.participants.lock().unwrap()[0].last_access = Some(at(11));
    complete_course(&w, 101, &[11]);
    let before = w.course.completion_calls.load(Ordering::Relaxed);
    let counts = w.fetch(at(12)).await;
    assert_eq!(
        (counts.changed, counts.completions),
        (1, 1),
        "only the learner who accessed the course"
    );
    assert_eq!(
        w.course.completion_calls.load(Ordering::Relaxed),
        before + 1
    );
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
    assert_eq!(enrolment_state(&w, 0).await, EnrolmentState::Completed);
}

#[tokio::test]
async fn mapping_refuses_types_that_cannot_be_mapped_by_name() {
    let w = world(1, settings(true), false).await;
    let err = w
        .results()
        .map(&w.course, &t(), &o(), &c(), &u1(), &[1, 3], at(2))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is a forum, which cannot be mapped"),
        "{err}"
    );
    let activities = w
        .results()
        .activities(&w.course, &t(), &o(), &c())
        .await
        .unwrap();
    assert_eq!(activities.iter().filter(|a| a.mappable).count(), 2);
    let err = w
        .results()
        .map(
            &w.course,
            &t(),
            &o(),
            &c(),
            &AssessableId::parse("NOPE").unwrap(),
            &[1],
            at(2),
        )
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        ResultsError::Mapping(MappingError::UnknownAssessable { .. })
    ));
    assert!(matches!(
        w.results().process_all(&t(), &c(), at(3)).await,
        Err(ResultsError::NoSms)
    ));
}

#[tokio::test]
async fn one_offering_can_be_downloaded_alone_without_moving_the_watermark() {
    let w = world(2, settings(true), true).await;
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4);
    let stop = AtomicBool::new(false);
    let counts = w
        .results()
        .fetch(&w.connection, &w.course, Some(&o()), &run(), &stop, at(10))
        .await
        .unwrap();
    assert_eq!((counts.offerings, counts.ready), (1, 1));
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
    assert_eq!(
        w.results.progress_of(&t(), &c()).0,
        None,
        "only a download of every linked offering moves the connection's watermark"
    );
    // The offering keeps its own: the same download again reads nobody.
    let own = w.results.offering_progress(&t(), &c()).await.unwrap();
    assert_eq!(
        own,
        vec![domain::results::OfferingProgress {
            offering: o(),
            at: at(10),
            retries: vec![],
        }]
    );
    let again = w
        .results()
        .fetch(&w.connection, &w.course, Some(&o()), &run(), &stop, at(20))
        .await
        .unwrap();
    assert_eq!((again.learners, again.changed), (2, 0), "{again:?}");
    let other = OfferingId::parse("OFF-2").unwrap();
    let err = w
        .results()
        .fetch(
            &w.connection,
            &w.course,
            Some(&other),
            &run(),
            &stop,
            at(10),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ResultsError::NotLinked { .. }), "{err}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn a_passed_learner_is_read_again_until_moodle_marks_the_course_complete() {
    let s = MoodleSettings {
        course_completions: true,
        review_before_saving: false,
        ..settings(true)
    };
    let w = world(2, s, true).await;
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4);
    let counts = w.fetch(at(10)).await;
    assert_eq!(
        (counts.saved, counts.completions),
        (1, 0),
        "Moodle's cron has not run"
    );
    assert_eq!(w.result(0).unwrap().state, ReviewState::Done);

    // Nothing graded since: only the passed learner is read again, and the
    // completion Moodle's cron marked in between is recorded.
    w.course.course_completion.lock().unwrap().insert(
        101,
        CourseCompletionRead {
            untracked: false,
            completed: true,
            criteria: vec![CriterionStatus {
                complete: true,
                completed_at: Some(at(11)),
            }],
        },
    );
    let counts = w.fetch(at(12)).await;
    assert_eq!((counts.changed, counts.completions), (1, 1));
    let e = w
        .sis
        .enrolment(&t(), &o(), &code(0))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(e.state, EnrolmentState::Completed);

    // Completed: nobody is read again.
    let counts = w.fetch(at(13)).await;
    assert_eq!(counts.changed, 0);
}

#[tokio::test]
async fn a_learner_linked_or_identified_after_the_watermark_has_their_earlier_grades_read() {
    let w = world(1, settings(true), true).await;
    w.fetch(at(10)).await;
    // L5 was exported after the first download; L6 was enrolled in Moodle by
    // hand and is found by idnumber now. Both were graded before the watermark.
    for (l, user, stored) in [(5, 105, true), (6, 106, false)] {
        w.sis
            .save_enrolment(&Enrolment {
                tenant: t(),
                learner: code(l),
                offering: o(),
                state: EnrolmentState::InProgress,
                start_date: NaiveDate::from_ymd_opt(2026, 2, 1),
                session_date: None,
                updated_at: at(1),
            })
            .await
            .unwrap();
        if stored {
            w.links
                .save_account(&ExternalAccount {
                    tenant: t(),
                    connection: c(),
                    learner: code(l),
                    external_id: user,
                    created_by_us: true,
                    linked_at: at(11),
                })
                .await
                .unwrap();
        }
        w.course.participants.lock().unwrap().push(Participant {
            user,
            username: String::new(),
            idnumber: if stored {
                String::new()
            } else {
                format!("L{l}")
            },
            last_access: None,
        });
        w.course.grades.lock().unwrap().push(LearnerGrades {
            user,
            items: Vec::new(),
            course_total: None,
            course_max: None,
        });
        w.grade(user, 1, 80.0, 3);
        w.grade(user, 2, 80.0, 3);
    }
    let counts = w.fetch(at(12)).await;
    assert_eq!((counts.learners, counts.changed, counts.ready), (3, 2, 2));
    assert_eq!(w.result(5).unwrap().result, ResultType::Passed);
    assert_eq!(w.result(6).unwrap().result, ResultType::Passed);
    let counts = w.fetch(at(13)).await;
    assert_eq!(counts.changed, 0, "read once");
}

fn warnings(log: &[RunLogLine], containing: &str) -> usize {
    log.iter()
        .filter(|l| l.level == LogLevel::Warning && l.message.contains(containing))
        .count()
}

#[tokio::test]
async fn a_course_without_completion_criteria_yields_no_completion_and_one_warning_per_run() {
    let s = MoodleSettings {
        course_completions: true,
        ..settings(false)
    };
    let w = world(3, s, true).await;
    w.course.no_criteria.store(true, Ordering::Relaxed);
    for user in [101, 102, 103] {
        w.grade(user, 1, 80.0, 3);
        w.grade(user, 2, 60.0, 4);
    }
    w.course.grades.lock().unwrap()[0].course_total = Some(8.0);
    let counts = w.fetch(at(10)).await;
    // Learned once per course and run: the first `nocriteriaset` answer stops
    // the course completion reads of the others (no call known to fail).
    assert_eq!(w.course.course_completion_calls.load(Ordering::Relaxed), 1);
    assert_eq!(w.course.completion_calls.load(Ordering::Relaxed), 3);
    assert_eq!((counts.completions, counts.failures), (0, 0));
    assert!(completion_delivery(&w).is_none(), "never a completion");
    assert!(w.results.completions.lock().unwrap().is_empty());
    // The mapped results are still read and saved: the learners did not fail.
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    let says = "Course 77 (offering OFF-1) has no completion criteria in Moodle";
    assert_eq!(warnings(&log, says), 1, "{log:?}");
    assert_eq!(warnings(&log, "could not be read"), 0, "{log:?}");

    // The next run says it once again (once per run), still no completion.
    w.grade(101, 1, 90.0, 11);
    w.grade(102, 1, 90.0, 11);
    let before = w.course.course_completion_calls.load(Ordering::Relaxed);
    w.fetch(at(12)).await;
    assert_eq!(
        w.course.course_completion_calls.load(Ordering::Relaxed) - before,
        1,
        "learned again in the next run, once"
    );
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    assert_eq!(warnings(&log, says), 2, "{log:?}");
    assert!(completion_delivery(&w).is_none());

    // Criteria set up in Moodle: the completion is read as usual.
    w.course.no_criteria.store(false, Ordering::Relaxed);
    complete_course(&w, 101, &[13]);
    w.grade(101, 1, 95.0, 13);
    let counts = w.fetch(at(14)).await;
    assert_eq!(counts.completions, 1);
    assert!(completion_delivery(&w).is_some());
}

#[tokio::test]
async fn a_completion_delivery_names_the_moodle_course_and_the_users_idnumber() {
    let s = MoodleSettings {
        course_completions: true,
        ..settings(true)
    };
    let w = world(2, s, true).await;
    // Identified by the stored account; Moodle's idnumber is Coachview's externid.
    w.course.participants.lock().unwrap()[0].idnumber = " CV-9001 ".into();
    w.course.participants.lock().unwrap()[1].idnumber = String::new();
    for user in [101, 102] {
        w.grade(user, 1, 80.0, 3);
    }
    w.course.grades.lock().unwrap()[0].course_total = Some(8.5);
    complete_course(&w, 101, &[4, 6]);
    complete_course(&w, 102, &[5]);
    let counts = w.fetch(at(10)).await;
    assert_eq!(counts.completions, 2);
    // Reviewed first: the stored completion keeps the course and idnumber.
    w.results()
        .process_completion(&t(), &o(), &code(0), at(11))
        .await
        .unwrap();
    let d = completion_delivery(&w).unwrap();
    assert_eq!(d.learner, code(0));
    assert_eq!(d.payload["course_id"], 77);
    assert_eq!(d.payload["external_id"], "CV-9001");
    assert_eq!(d.payload["grade"], 8.5, "the course total (CV-01)");
    assert_eq!(
        d.payload["completed_at"], "2026-03-06T09:00:00Z",
        "the latest criterion (CV-06)"
    );
    w.results()
        .process_completion(&t(), &o(), &code(1), at(11))
        .await
        .unwrap();
    let second = w
        .deliveries
        .0
        .lock()
        .unwrap()
        .values()
        .find(|d| d.kind == DeliveryKind::Completion && d.learner == code(1))
        .cloned()
        .unwrap();
    assert_eq!(second.payload["course_id"], 77);
    assert!(
        second.payload.get("external_id").is_none(),
        "no idnumber: Coachview gets the learner code"
    );
}

#[tokio::test]
async fn result_levels_limit_what_is_mapped_and_resulted() {
    let w = world(1, settings(false), true).await;
    let task = AssessableId::parse("T1").unwrap();
    let mut offering = w.sis.offering(&t(), &o()).await.unwrap().unwrap();
    offering.assessables.push(Assessable {
        id: task.clone(),
        name: "Task".into(),
        kind: AssessableKind::Task,
        expected_start_date: None,
    });
    w.sis.save_offering(&offering).await.unwrap();
    let set_levels = |levels: Vec<AssessableKind>| {
        let mut all = w.connections.0.lock().unwrap();
        let conn = all.iter_mut().find(|x| x.id == c()).unwrap();
        let ConnectionSettings::Moodle(m) = &mut conn.settings else {
            panic!("moodle")
        };
        m.result_levels = levels;
        conn.clone()
    };
    // Units only: the task is refused by name, the unit is mapped.
    set_levels(vec![AssessableKind::Unit]);
    let err = w
        .results()
        .map(&w.course, &t(), &o(), &c(), &task, &[1], at(2))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            ResultsError::Mapping(MappingError::LevelNotAllowed { assessable, kind: "task" })
                if *assessable == task
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "assessable T1 is a task, a level this connection does not map or result (result_levels)"
    );
    assert!(w.results.mappings.lock().unwrap().len() == 1, "only U1");

    // Tasks only now: U1's existing mapping is skipped with a warning.
    let tasks_only = set_levels(vec![AssessableKind::Task]);
    w.grade(101, 1, 80.0, 3);
    w.grade(101, 2, 60.0, 4);
    let stop = AtomicBool::new(false);
    w.results()
        .fetch(&tasks_only, &w.course, None, &run(), &stop, at(10))
        .await
        .unwrap();
    assert!(w.result(0).is_none(), "a unit is not resulted");
    assert!(w.deliveries.0.lock().unwrap().is_empty());
    let log = w.runs.log(&t(), &c(), &run()).await.unwrap();
    assert_eq!(
        warnings(
            &log,
            "the mapping of assessable U1 is a unit, a level this connection does not map or result (result_levels); it is skipped"
        ),
        1,
        "{log:?}"
    );

    // Every level again (the default): the unit is resulted.
    let every = set_levels(MoodleSettings::default().result_levels);
    w.grade(101, 2, 65.0, 11);
    w.results()
        .fetch(&every, &w.course, None, &run(), &stop, at(12))
        .await
        .unwrap();
    assert_eq!(w.result(0).unwrap().result, ResultType::Passed);
}

/// Grade sources that count how often a connection's source is built.
#[derive(Default)]
struct CountingSources(AtomicUsize);

#[async_trait]
impl GradeSources for CountingSources {
    async fn for_connection(
        &self,
        _: &Connection,
    ) -> Result<std::sync::Arc<dyn GradeSource>, LearningError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(std::sync::Arc::new(Course::default()))
    }
}

#[tokio::test]
async fn a_disabled_connection_is_read_only_when_a_person_runs_it() {
    use domain::job::Trigger;
    let w = world(1, settings(false), true).await;
    w.connections
        .0
        .lock()
        .unwrap()
        .iter_mut()
        .filter(|x| x.id == c())
        .for_each(|x| x.enabled = false);
    let stop = AtomicBool::new(false);
    let cases = [
        ("nightly", Trigger::Nightly, false),
        ("auto", Trigger::AutoPush, false),
        ("change", Trigger::Change, false),
        ("manual", Trigger::Manual, true),
    ];
    for (id, trigger, reads) in cases {
        let run = RunId::parse(id).unwrap();
        w.runs
            .start_run(&domain::Run::start(t(), c(), run.clone(), trigger, at(10)))
            .await
            .unwrap();
        let sources = CountingSources::default();
        let counts = w
            .results()
            .fetch_for_run(&sources, &t(), &c(), &run, None, &stop, at(10))
            .await
            .unwrap();
        assert_eq!(sources.0.load(Ordering::Relaxed) == 1, reads, "{id}");
        assert_eq!(counts.is_some(), reads, "{id}");
        let log = w.runs.log(&t(), &c(), &run).await.unwrap();
        assert_eq!(
            log.iter()
                .any(|l| l.message == "Results were not read: the connection is disabled."),
            !reads,
            "{id}: {log:?}"
        );
    }
}
