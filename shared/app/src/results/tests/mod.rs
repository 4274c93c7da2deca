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

fn warnings(log: &[RunLogLine], containing: &str) -> usize {
    log.iter()
        .filter(|l| l.level == LogLevel::Warning && l.message.contains(containing))
        .count()
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

mod completions;
mod fetch;
