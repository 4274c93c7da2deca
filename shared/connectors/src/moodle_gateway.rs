//! The [`LearningSystem`] port over the Moodle REST client: domain types in,
//! Moodle's wire types out, and each record's Moodle error turned into the
//! reason its enrolment is blocked (`RefusedByMoodle`, with Moodle's words).
//!
//! [`MoodleGateways`] builds one gateway per connection from the connection's
//! base URL and settings (batch size, concurrency) and its secret (the token,
//! from the [`SecretSource`]), and keeps it for the instance's life.

use crate::moodle::types::{
    Course, CourseField, CourseUpdate, Criterion, Enrolment, NameValue, NewCourse, NewUser,
    Unenrolment, User, UserField, UserUpdate,
};
use crate::moodle::{
    BatchOutcome, Feature, MoodleAuth, MoodleCategoryId, MoodleClient, MoodleConfig,
    MoodleCourseId, MoodleError, MoodleRoleId, MoodleUserId, required_functions,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::connection::{ConnectionSettings, MoodleSettings};
use domain::learning::{
    CourseEnrolment, CourseSchedule, GradeRead, LearnerProgress, LearningError, LmsCategory,
    LmsCourse, LmsUser, NewLmsCourse, NewLmsUser, NewUserPassword, RecordFailure, RecordOutcomes,
    SiteReport, UserChanges, UserLookup,
};
use domain::ports::{LearningSystem, LearningSystems, SecretSource};
use domain::sis::BlockReason;
use domain::{Connection, ConnectionId, TenantId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One Moodle site behind one connection.
#[derive(Debug, Clone)]
pub struct MoodleGateway {
    client: MoodleClient,
    site_url: String,
    /// What the connection is used for: the functions its test asks for.
    features: Vec<Feature>,
}

impl MoodleGateway {
    /// A gateway whose test asks for every feature's functions.
    pub fn new(client: MoodleClient, site_url: impl Into<String>) -> Self {
        Self {
            client,
            site_url: site_url.into(),
            features: Feature::ALL.to_vec(),
        }
    }

    /// A gateway for a connection's site, its settings and the secret it signs
    /// in with (the token, or the password of `settings.login`).
    pub fn for_settings(
        base_url: &str,
        settings: &MoodleSettings,
        secret: secrecy::SecretString,
        egress: crate::egress::Egress,
    ) -> Result<Self, MoodleError> {
        Self::for_settings_within(base_url, settings, secret, egress, None)
    }

    /// As [`MoodleGateway::for_settings`], each HTTP request limited to
    /// `timeout` instead of the client's default.
    pub fn for_settings_within(
        base_url: &str,
        settings: &MoodleSettings,
        secret: secrecy::SecretString,
        egress: crate::egress::Egress,
        timeout: Option<std::time::Duration>,
    ) -> Result<Self, MoodleError> {
        let mut config = MoodleConfig::from_settings(base_url, settings).with_egress(egress);
        if let Some(timeout) = timeout {
            config.timeout = timeout;
        }
        let client = MoodleClient::new(config, MoodleAuth::for_login(&settings.login, secret))?;
        Ok(Self {
            features: Feature::enabled_by(settings),
            ..Self::new(client, base_url.trim_end_matches('/'))
        })
    }

    /// The users holding `email` as Moodle compares emails: its email search
    /// ignores letter case but treats `_` and `%` as wildcards, so only the
    /// users whose email is the same ignoring case are kept. One call per
    /// address (the search takes one value), side by side.
    async fn users_by_email(&self, emails: &[String]) -> Result<Vec<User>, MoodleError> {
        let found =
            futures::future::try_join_all(emails.iter().map(|e| self.holders_of(e))).await?;
        let mut users: Vec<User> = found.into_iter().flatten().collect();
        users.sort_by_key(|u| u.id);
        users.dedup_by_key(|u| u.id);
        Ok(users)
    }

    /// One address's holders (the client's permits bound the calls in flight).
    async fn holders_of(&self, email: &str) -> Result<Vec<User>, MoodleError> {
        let answer = self
            .client
            .users(&[Criterion::new("email", email.trim())])
            .await?;
        Ok(answer
            .users
            .into_iter()
            .filter(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| domain::matching::same_email(e, email))
            })
            .collect())
    }

    /// The users holding any of these emails (any letter case) or usernames:
    /// who stands in the way of a refused change.
    async fn holders(
        &self,
        emails: &[String],
        usernames: &[String],
    ) -> Result<Vec<LmsUser>, MoodleError> {
        let mut found = self.users_by_email(emails).await?;
        found.extend(
            self.client
                .users_by_field(UserField::Username, usernames)
                .await?,
        );
        Ok(found.into_iter().map(lms_user).collect())
    }

    /// The client (for its call counts).
    pub fn client(&self) -> &MoodleClient {
        &self.client
    }
}

/// A whole-call failure, classified: transient, or a refusal a person must act on.
fn call_error(e: MoodleError) -> LearningError {
    if e.is_retryable() {
        LearningError::Unavailable(Box::new(e))
    } else {
        LearningError::Refused(Box::new(e))
    }
}

/// The reason a person reads when Moodle refused one record. Usernames Moodle
/// refuses point at the setting the VETtrak seed asks for.
fn refusal_message(e: &MoodleError, username: Option<&str>) -> String {
    let base = e.to_string();
    match (e, username) {
        (MoodleError::InvalidParameter { .. }, Some(u)) if !plain_username(u) => format!(
            "{base} (the username {u} has characters Moodle accepts only with \"Allow extended characters in usernames\" enabled: Site administration > Security > Site security settings)"
        ),
        _ => base,
    }
}

/// One record's failure: transient and site-wide errors fail the record's call
/// (try again / a person fixes the connection); anything else refuses the record.
/// A create Moodle refused without a reason (debugging off) says so plainly.
fn record_failure(e: &Arc<MoodleError>, username: Option<&str>) -> RecordFailure {
    if e.is_retryable() {
        RecordFailure::Failed(LearningError::Unavailable(Box::new(Arc::clone(e))))
    } else if e.is_site_wide() {
        RecordFailure::Failed(LearningError::Refused(Box::new(Arc::clone(e))))
    } else {
        match (e.as_ref(), username) {
            (
                MoodleError::InvalidParameter {
                    debuginfo: None, ..
                },
                Some(u),
            ) if plain_username(u) => {
                RecordFailure::Refused(BlockReason::CreateRefusedWithoutReason {
                    username: u.to_owned(),
                })
            }
            _ => RecordFailure::Refused(BlockReason::RefusedByMoodle {
                message: refusal_message(e, username),
            }),
        }
    }
}

/// Characters Moodle takes in a username without "Allow extended characters".
fn plain_username(u: &str) -> bool {
    u.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(c))
}

fn outcomes<T, U>(
    outcome: BatchOutcome<T>,
    username: impl Fn(usize) -> Option<String>,
    map: impl Fn(&T) -> U,
) -> RecordOutcomes<U> {
    outcome
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| match r {
            Ok(t) => Ok(map(t)),
            Err(e) => Err(record_failure(e, username(i).as_deref())),
        })
        .collect()
}

fn lms_user(u: User) -> LmsUser {
    LmsUser {
        id: u.id.get(),
        username: u.username.unwrap_or_default(),
        idnumber: u.idnumber.unwrap_or_default(),
        email: u.email.unwrap_or_default(),
        firstname: u.firstname.unwrap_or_default(),
        middlename: String::new(),
        lastname: u.lastname.unwrap_or_default(),
        suspended: u.suspended.unwrap_or(false),
    }
}

/// An instant as Moodle's epoch. Which instant a calendar day is (local
/// midnight in the tenant's zone) is decided before the gateway, in `app`.
fn epoch(at: Option<DateTime<Utc>>) -> Option<i64> {
    at.map(|t| t.timestamp())
}

/// Moodle's epoch as an instant; `0` means "not set".
fn instant(epoch: i64) -> Option<DateTime<Utc>> {
    if epoch <= 0 {
        return None;
    }
    DateTime::<Utc>::from_timestamp(epoch, 0)
}

fn lms_course(c: Course) -> LmsCourse {
    LmsCourse {
        id: c.id.get(),
        shortname: c.shortname,
        fullname: c.fullname,
        idnumber: c.idnumber.unwrap_or_default(),
        category: c.categoryid.get(),
        start: instant(c.startdate),
        end: instant(c.enddate),
        visible: c.visible,
    }
}

fn new_user(u: &NewLmsUser) -> NewUser {
    let mut out =
        NewUser::new(&u.username, &u.firstname, &u.lastname, &u.email).with_idnumber(&u.idnumber);
    out.middlename = u.middlename.clone();
    match &u.password {
        NewUserPassword::MoodleCreates => out.with_moodle_password(),
        NewUserPassword::Generated(p) => out.with_password(p.clone()),
        NewUserPassword::Plugin(auth) => out.with_auth(auth),
    }
}

fn user_update(c: &UserChanges) -> UserUpdate {
    let mut u = UserUpdate::new(MoodleUserId(c.id));
    u.username = c.username.clone();
    u.idnumber = c.idnumber.clone();
    u.firstname = c.firstname.clone();
    u.middlename = c.middlename.clone();
    u.lastname = c.lastname.clone();
    u.email = c.email.clone();
    u.suspended = c.suspended;
    u
}

fn enrolment(e: &CourseEnrolment) -> Enrolment {
    Enrolment::new(
        MoodleUserId(e.user),
        MoodleCourseId(e.course),
        MoodleRoleId(e.role),
    )
    .between(e.start, None)
}

fn single<T>(mut outcomes: RecordOutcomes<T>) -> Result<T, RecordFailure> {
    match outcomes.pop() {
        Some(r) => r,
        None => Err(RecordFailure::Failed(LearningError::Refused(
            "Moodle answered no record".into(),
        ))),
    }
}

#[async_trait]
impl LearningSystem for MoodleGateway {
    fn site_url(&self) -> &str {
        &self.site_url
    }

    async fn users_by(
        &self,
        field: UserLookup,
        values: &[String],
    ) -> Result<Vec<LmsUser>, LearningError> {
        let field = match field {
            UserLookup::Id => UserField::Id,
            UserLookup::Idnumber => UserField::Idnumber,
            UserLookup::Username => UserField::Username,
            UserLookup::Email => UserField::Email,
        };
        let mut values = values.to_vec();
        values.sort();
        values.dedup();
        let users = if field == UserField::Email {
            // `core_user_get_users_by_field` compares emails case-sensitively;
            // Moodle keeps them unique ignoring case.
            values.sort_by_key(|v| v.trim().to_lowercase());
            values.dedup_by(|a, b| domain::matching::same_email(a, b));
            self.users_by_email(&values).await
        } else {
            self.client.users_by_field(field, &values).await
        }
        .map_err(call_error)?;
        Ok(users.into_iter().map(lms_user).collect())
    }

    async fn users_named(
        &self,
        firstname: &str,
        lastname: &str,
    ) -> Result<Vec<LmsUser>, LearningError> {
        let answer = self
            .client
            .users(&[
                Criterion::new("firstname", firstname),
                Criterion::new("lastname", lastname),
            ])
            .await
            .map_err(call_error)?;
        Ok(answer.users.into_iter().map(lms_user).collect())
    }

    async fn create_users(&self, users: &[NewLmsUser]) -> RecordOutcomes<i64> {
        let wire: Vec<NewUser> = users.iter().map(new_user).collect();
        let outcome = self.client.create_users(&wire).await;
        outcomes(
            outcome,
            |i| users.get(i).map(|u| u.username.clone()),
            |created| created.id.get(),
        )
    }

    async fn update_users(&self, changes: &[UserChanges]) -> RecordOutcomes<()> {
        let wire: Vec<UserUpdate> = changes.iter().map(user_update).collect();
        let outcome = self.client.update_users(&wire).await;
        // Moodle's warnings (useremailduplicate, invaliduserid, a username
        // taken) name no other user: look up who holds the new email or
        // username, so the learner's reason says whom to link or what to change.
        let warned: Vec<&UserChanges> = outcome
            .failed()
            .filter(|(_, e)| matches!(e, MoodleError::Warning { .. }))
            .filter_map(|(i, _)| changes.get(i))
            .collect();
        let found = if warned.is_empty() {
            Vec::new()
        } else {
            let emails: Vec<String> = warned.iter().filter_map(|c| c.email.clone()).collect();
            let usernames: Vec<String> = warned.iter().filter_map(|c| c.username.clone()).collect();
            self.holders(&emails, &usernames)
                .await
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "the holders of a refused change could not be looked up");
                    Vec::new()
                })
        };
        outcome
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| match r {
                Ok(()) => Ok(()),
                Err(e) => match (e.as_ref(), changes.get(i)) {
                    (MoodleError::Warning { warning }, Some(change)) => {
                        Err(RecordFailure::Refused(domain::matching::refused_update(
                            change,
                            &warning.warningcode,
                            &warning.message,
                            &found,
                        )))
                    }
                    _ => Err(record_failure(
                        e,
                        changes.get(i).and_then(|c| c.username.as_deref()),
                    )),
                },
            })
            .collect()
    }

    async fn enrolled_users(&self, course: i64) -> Result<Vec<i64>, LearningError> {
        let users = self
            .client
            .enrolled_users(
                MoodleCourseId(course),
                &[NameValue::new("userfields", "id")],
            )
            .await
            .map_err(call_error)?;
        Ok(users.into_iter().map(|u| u.id.get()).collect())
    }

    async fn enrol(&self, enrolments: &[CourseEnrolment]) -> RecordOutcomes<()> {
        let wire: Vec<Enrolment> = enrolments.iter().map(enrolment).collect();
        let outcome = self.client.enrol(&wire).await;
        outcomes(outcome, |_| None, |_| ())
    }

    async fn unenrol(&self, course: i64, user: i64) -> Result<(), RecordFailure> {
        let outcome = self
            .client
            .unenrol(&[Unenrolment::new(MoodleUserId(user), MoodleCourseId(course))])
            .await;
        single(outcomes(outcome, |_| None, |_| ()))
    }

    async fn suspend_enrolment(&self, e: &CourseEnrolment) -> Result<(), RecordFailure> {
        let outcome = self.client.enrol(&[enrolment(e).suspended(true)]).await;
        single(outcomes(outcome, |_| None, |_| ()))
    }

    async fn course_by_idnumber(&self, idnumber: &str) -> Result<Option<LmsCourse>, LearningError> {
        let answer = self
            .client
            .courses_by_field(Some((CourseField::Idnumber, idnumber)))
            .await
            .map_err(call_error)?;
        let Some(found) = answer.courses.into_iter().next() else {
            return Ok(None);
        };
        Ok(Some(LmsCourse {
            id: found.id.get(),
            shortname: found.shortname,
            fullname: found.fullname,
            idnumber: found.idnumber.unwrap_or_default(),
            category: found.categoryid.map_or(0, MoodleCategoryId::get),
            start: instant(found.startdate),
            end: instant(found.enddate),
            visible: found.visible,
        }))
    }

    async fn course(&self, id: i64) -> Result<Option<LmsCourse>, LearningError> {
        let courses = self
            .client
            .courses(&[MoodleCourseId(id)])
            .await
            .map_err(call_error)?;
        Ok(courses.into_iter().next().map(lms_course))
    }

    async fn create_course(&self, course: &NewLmsCourse) -> Result<LmsCourse, RecordFailure> {
        let mut wire = NewCourse::new(
            &course.fullname,
            &course.shortname,
            MoodleCategoryId(course.category),
        );
        wire.idnumber = Some(course.idnumber.clone());
        wire.startdate = epoch(course.start);
        wire.enddate = epoch(course.end);
        wire.visible = Some(course.visible);
        let outcome = self.client.create_courses(&[wire]).await;
        let id = single(outcomes(outcome, |_| None, |c| c.id.get()))?;
        Ok(LmsCourse {
            id,
            shortname: course.shortname.clone(),
            fullname: course.fullname.clone(),
            idnumber: course.idnumber.clone(),
            category: course.category,
            start: course.start,
            end: course.end,
            visible: course.visible,
        })
    }

    async fn update_course(&self, schedule: &CourseSchedule) -> Result<(), RecordFailure> {
        let mut wire = CourseUpdate::new(MoodleCourseId(schedule.course));
        wire.startdate = epoch(schedule.start);
        wire.enddate = epoch(schedule.end);
        wire.visible = Some(schedule.visible);
        let outcome = self.client.update_courses(&[wire]).await;
        single(outcomes(outcome, |_| None, |_| ()))
    }

    async fn categories(&self) -> Result<Vec<LmsCategory>, LearningError> {
        let categories = self
            .client
            .categories(Vec::new())
            .await
            .map_err(call_error)?;
        Ok(categories
            .into_iter()
            .map(|c| LmsCategory {
                id: c.id.get(),
                name: c.name,
                idnumber: c.idnumber.unwrap_or_default(),
                parent: c.parent,
            })
            .collect())
    }

    async fn learner_progress(
        &self,
        course: i64,
        user: i64,
    ) -> Result<LearnerProgress, LearningError> {
        let course_id = MoodleCourseId(course);
        let grades = self
            .client
            .course_grades(course_id, Some(MoodleUserId(user)))
            .await
            .map_err(call_error)?;
        let grades = grades
            .learners
            .into_iter()
            .filter(|l| l.user.get() == user)
            .flat_map(|l| l.items)
            .map(|item| GradeRead {
                item: item.name.unwrap_or_else(|| {
                    if item.course_total {
                        "course total".into()
                    } else {
                        String::new()
                    }
                }),
                grade: item.grade,
            })
            .collect();
        let (course_completed, completed_at) = match self
            .client
            .course_completion(course_id, MoodleUserId(user))
            .await
        {
            Ok(answer) => (
                answer.completionstatus.completed,
                answer.completionstatus.completed_at(),
            ),
            // A course without completion tracking, or a learner no longer enrolled.
            Err(MoodleError::NotEnrolled { .. } | MoodleError::Other { .. }) => (false, None),
            Err(e) => return Err(call_error(e)),
        };
        Ok(LearnerProgress {
            grades,
            course_completed,
            completed_at,
        })
    }

    async fn test(&self) -> Result<SiteReport, LearningError> {
        let required = required_functions(&self.features);
        let report = self
            .client
            .test_connection(&required)
            .await
            .map_err(call_error)?;
        Ok(SiteReport {
            site_name: report.site_name,
            release: report.release,
            missing_functions: report.missing_functions,
            missing_optional_functions: report.missing_optional_functions,
        })
    }
}

/// What a cached gateway was built from: a changed URL, settings or secret
/// (its SHA-256, never the secret itself) rebuilds it. A password login's
/// token lives in the cached gateway's client: fetched once per instance.
#[derive(PartialEq)]
struct Built {
    base_url: String,
    batch_size: usize,
    max_concurrency: usize,
    login: domain::connection::MoodleLogin,
    features: Vec<Feature>,
    token: [u8; 32],
}

type GatewayCache = HashMap<(TenantId, ConnectionId), (Built, Arc<MoodleGateway>)>;

/// Gateways per connection, built from the connection's settings and secret and
/// cached for the instance's life (clients keep their connection pools warm).
pub struct MoodleGateways {
    secrets: Arc<dyn SecretSource>,
    secret_prefix: String,
    cache: Mutex<GatewayCache>,
    /// Per HTTP request (the deployment's `MOODLE_TIMEOUT_SECONDS`); the
    /// client's default when `None`.
    timeout: Option<std::time::Duration>,
    egress: crate::egress::Egress,
}

impl MoodleGateways {
    /// Gateways that connect to public https sites only ([`Self::with_egress`]
    /// to allow internal ones).
    pub fn new(secrets: Arc<dyn SecretSource>, secret_prefix: impl Into<String>) -> Self {
        Self {
            secrets,
            secret_prefix: secret_prefix.into(),
            cache: Mutex::new(HashMap::new()),
            timeout: None,
            egress: crate::egress::Egress::PublicOnly,
        }
    }

    /// Every gateway's HTTP requests limited to `timeout` (`None`: the client's default).
    pub fn with_timeout(self, timeout: Option<std::time::Duration>) -> Self {
        Self { timeout, ..self }
    }

    /// The same gateways with `egress` as the rule for where they connect.
    pub fn with_egress(self, egress: crate::egress::Egress) -> Self {
        Self { egress, ..self }
    }

    /// The gateway for a connection (built if needed), with its concrete type.
    pub async fn gateway(
        &self,
        connection: &Connection,
    ) -> Result<Arc<MoodleGateway>, LearningError> {
        let ConnectionSettings::Moodle(settings) = &connection.settings else {
            return Err(LearningError::NotALearningSystem {
                connection: connection.id.to_string(),
            });
        };
        let key = (connection.tenant.clone(), connection.id.clone());
        // The secret source caches too (a few minutes), so this read is cheap; a
        // rotated token builds a new gateway.
        let (name, _) = connection.sign_in_secret(&self.secret_prefix);
        let token = self
            .secrets
            .secret(&name)
            .await
            .map_err(LearningError::Secret)?;
        let built = Built {
            base_url: connection.base_url.clone(),
            batch_size: settings.batch_size,
            max_concurrency: settings.max_concurrency,
            login: settings.login.clone(),
            features: Feature::enabled_by(settings),
            token: {
                use secrecy::ExposeSecret;
                use sha2::Digest;
                sha2::Sha256::digest(token.expose_secret().as_bytes()).into()
            },
        };
        if let Ok(cache) = self.cache.lock()
            && let Some((was, gateway)) = cache.get(&key)
            && *was == built
        {
            return Ok(Arc::clone(gateway));
        }
        let gateway = Arc::new(
            MoodleGateway::for_settings_within(
                &connection.base_url,
                settings,
                token,
                self.egress,
                self.timeout,
            )
            .map_err(|e| LearningError::Refused(Box::new(e)))?,
        );
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (built, Arc::clone(&gateway)));
        }
        Ok(gateway)
    }
}

#[async_trait]
impl LearningSystems for MoodleGateways {
    async fn for_connection(
        &self,
        connection: &Connection,
    ) -> Result<Arc<dyn LearningSystem>, LearningError> {
        let gateway: Arc<dyn LearningSystem> = self.gateway(connection).await?;
        Ok(gateway)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_through_epoch_seconds() {
        let at = DateTime::<Utc>::from_timestamp(1_796_130_600, 0);
        assert_eq!(instant(epoch(at).unwrap_or_default()), at);
        assert_eq!(instant(0), None, "Moodle's 0 means no date");
    }

    #[test]
    fn refused_usernames_name_the_setting() {
        let e = MoodleError::InvalidParameter {
            message: "Invalid parameter value detected".into(),
            debuginfo: None,
        };
        assert!(
            refusal_message(&e, Some("ana+x@example.com"))
                .contains("Allow extended characters in usernames")
        );
        assert!(!refusal_message(&e, Some("ana@example.com")).contains("extended"));
    }

    #[test]
    fn a_bare_refusal_says_moodle_gave_no_reason() {
        let bare = Arc::new(MoodleError::InvalidParameter {
            message: "Invalid parameter value detected".into(),
            debuginfo: None,
        });
        let RecordFailure::Refused(reason) = record_failure(&bare, Some("ana.ruiz")) else {
            panic!("a refusal")
        };
        assert_eq!(
            reason,
            BlockReason::CreateRefusedWithoutReason {
                username: "ana.ruiz".into()
            }
        );
        assert!(reason.message().contains("gave no reason"));
        // With debugging on, Moodle's own words are kept.
        let said = Arc::new(MoodleError::InvalidParameter {
            message: "Invalid parameter value detected".into(),
            debuginfo: Some("Invalid username".into()),
        });
        assert!(matches!(
            record_failure(&said, Some("ana.ruiz")),
            RecordFailure::Refused(BlockReason::RefusedByMoodle { message }) if message.contains("Invalid username")
        ));
    }
}
