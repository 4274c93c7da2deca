//! The look-ups of a push: side by side within the connection's limit, and
//! a search Moodle never answers.

use super::*;

#[tokio::test]
async fn look_ups_go_side_by_side_within_max_concurrency() {
    use domain::connection::MatchField;
    // Batches of 2 and 3 calls at once: 12 learners are 6 idnumber look-ups
    // and 6 of the usernames they would be created with, and, matched on
    // first and last name, 12 name searches.
    for fields in [vec![], vec![MatchField::Firstname, MatchField::Lastname]] {
        let env = Env::new(MoodleSettings {
            batch_size: 2,
            max_concurrency: 3,
            match_fields: fields.clone(),
            ..MoodleSettings::default()
        })
        .await;
        env.link().await;
        for i in 0..12 {
            // No email: nothing but the idnumber (and name) look-ups is asked.
            env.learner(&format!("L{i:03}"), "Look", &format!("Up{i}"), None)
                .await;
        }
        env.sim.set_switches(simulators::moodle::Switches {
            latency: std::time::Duration::from_millis(50),
            ..simulators::moodle::Switches::default()
        });
        env.sim.clear_calls();
        env.sim.reset_max_in_flight();
        env.push().preview(&t(), &c(), &off()).await.unwrap();
        assert_eq!(
            env.sim.call_count("core_user_get_users_by_field"),
            12,
            "{fields:?}"
        );
        let searches = env.sim.call_count("core_user_get_users");
        assert_eq!(searches, if fields.is_empty() { 0 } else { 12 });
        assert_eq!(
            env.sim.max_in_flight(),
            3,
            "look-ups run side by side, never more than max_concurrency ({fields:?})"
        );
    }
}

/// The real gateway, but Moodle never answers the email search for one
/// address (as when every try of that one call met an HTTP 503 or a hang).
struct SearchNeverAnswered {
    inner: MoodleGateways,
    email: &'static str,
}

#[async_trait]
impl LearningSystems for SearchNeverAnswered {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<Arc<dyn LearningSystem>, domain::learning::LearningError> {
        Ok(Arc::new(EmailSearchFails {
            inner: LearningSystems::for_connection(&self.inner, connection).await?,
            email: self.email,
        }))
    }
}

struct EmailSearchFails {
    inner: Arc<dyn LearningSystem>,
    email: &'static str,
}

#[async_trait]
impl LearningSystem for EmailSearchFails {
    fn site_url(&self) -> &str {
        self.inner.site_url()
    }
    async fn users_by(
        &self,
        field: domain::learning::UserLookup,
        values: &[String],
    ) -> Result<Vec<domain::learning::LmsUser>, domain::learning::LearningError> {
        if field == domain::learning::UserLookup::Email && values.iter().any(|v| v == self.email) {
            return Err(domain::learning::LearningError::Unavailable(
                "Moodle answered HTTP 503 (4 tries)".into(),
            ));
        }
        self.inner.users_by(field, values).await
    }
    async fn users_named(
        &self,
        firstname: &str,
        lastname: &str,
    ) -> Result<Vec<domain::learning::LmsUser>, domain::learning::LearningError> {
        self.inner.users_named(firstname, lastname).await
    }
    async fn create_users(
        &self,
        users: &[domain::learning::NewLmsUser],
    ) -> domain::learning::RecordOutcomes<i64> {
        self.inner.create_users(users).await
    }
    async fn update_users(
        &self,
        changes: &[domain::learning::UserChanges],
    ) -> domain::learning::RecordOutcomes<()> {
        self.inner.update_users(changes).await
    }
    async fn enrolled_users(
        &self,
        course: i64,
    ) -> Result<Vec<i64>, domain::learning::LearningError> {
        self.inner.enrolled_users(course).await
    }
    async fn enrol(
        &self,
        enrolments: &[domain::learning::CourseEnrolment],
    ) -> domain::learning::RecordOutcomes<()> {
        self.inner.enrol(enrolments).await
    }
    async fn unenrol(&self, course: i64, user: i64) -> Result<(), domain::learning::RecordFailure> {
        self.inner.unenrol(course, user).await
    }
    async fn suspend_enrolment(
        &self,
        e: &domain::learning::CourseEnrolment,
    ) -> Result<(), domain::learning::RecordFailure> {
        self.inner.suspend_enrolment(e).await
    }
    async fn course_by_idnumber(
        &self,
        idnumber: &str,
    ) -> Result<Option<domain::learning::LmsCourse>, domain::learning::LearningError> {
        self.inner.course_by_idnumber(idnumber).await
    }
    async fn course(
        &self,
        id: i64,
    ) -> Result<Option<domain::learning::LmsCourse>, domain::learning::LearningError> {
        self.inner.course(id).await
    }
    async fn create_course(
        &self,
        course: &domain::learning::NewLmsCourse,
    ) -> Result<domain::learning::LmsCourse, domain::learning::RecordFailure> {
        self.inner.create_course(course).await
    }
    async fn update_course(
        &self,
        schedule: &domain::learning::CourseSchedule,
    ) -> Result<(), domain::learning::RecordFailure> {
        self.inner.update_course(schedule).await
    }
    async fn categories(
        &self,
    ) -> Result<Vec<domain::learning::LmsCategory>, domain::learning::LearningError> {
        self.inner.categories().await
    }
    async fn learner_progress(
        &self,
        course: i64,
        user: i64,
    ) -> Result<domain::learning::LearnerProgress, domain::learning::LearningError> {
        self.inner.learner_progress(course, user).await
    }
    async fn test(&self) -> Result<domain::learning::SiteReport, domain::learning::LearningError> {
        self.inner.test().await
    }
}

#[tokio::test]
async fn a_search_moodle_never_answers_leaves_only_its_learner_ready_for_the_next_run() {
    let env = Env::new(MoodleSettings::default()).await;
    env.link().await;
    env.learner("A1", "Ana", "Ruiz", Some("ana@example.com"))
        .await;
    env.learner("B2", "Bo", "Lee", Some("bo@example.com")).await;
    env.learner("C3", "Cy", "Park", Some("cy@example.com"))
        .await;
    let flaky = SearchNeverAnswered {
        inner: MoodleGateways::new(Arc::new(Token), "lb/connections")
            .with_egress(connectors::egress::Egress::AllowInternal),
        email: "bo@example.com",
    };
    let push = Push {
        learning: &flaky,
        ..env.push()
    };

    push.export(&t(), &c(), &run("n1"), Trigger::Nightly, None, now())
        .await
        .expect("the export finishes: one learner's search does not fail it");
    // The others are created, enrolled and called.
    for (code, email) in [("A1", "ana@example.com"), ("C3", "cy@example.com")] {
        let user = env.moodle_user(email).expect("created");
        assert!(env.enrolled_in_course_2(user.id), "{code}");
        assert_eq!(env.account(code), Some(user.id));
        assert_eq!(
            env.transfer(code).unwrap().status,
            TransferStatus::Transferred
        );
    }
    // Bo: nothing decided, nothing created; still ready, and the run says why.
    assert!(env.moodle_user("bo@example.com").is_none());
    assert_eq!(env.account("B2"), None);
    assert_eq!(env.transfer("B2"), None);
    let preview = env.push().preview(&t(), &c(), &off()).await.unwrap();
    assert!(preview.contains(&PreviewRow {
        learner: LearnerCode::parse("B2").unwrap(),
        status: TransferStatus::Ready,
    }));
    let lines = env.runs.log(&t(), &c(), &run("n1")).await.unwrap();
    let warning = lines
        .iter()
        .find(|l| l.level == LogLevel::Warning && l.message.contains("(B2)"))
        .unwrap_or_else(|| panic!("a warning names Bo: {lines:?}"));
    assert!(
        warning.message.contains("Bo Lee")
            && warning.message.contains("HTTP 503")
            && warning.message.contains("next run"),
        "{}",
        warning.message
    );
    let stored = env.runs.run(&t(), &c(), &run("n1")).await.unwrap().unwrap();
    assert_eq!(
        stored.counts.get("users_created"),
        Some(&2),
        "{:?}",
        stored.counts
    );

    // The next run, Moodle answering, pushes Bo once.
    let again = env
        .push()
        .push_offering(&t(), &c(), &off(), &run("n2"), true, now())
        .await
        .unwrap();
    assert_eq!(
        (again.created, again.enrolled, again.unavailable),
        (1, 1, 0)
    );
    let bo = env.moodle_user("bo@example.com").expect("Bo is created");
    assert!(env.enrolled_in_course_2(bo.id));
    assert_eq!(
        env.transfer("B2").unwrap().status,
        TransferStatus::Transferred
    );
}
