//! Record batches: chunked under `batch_size` and `max_input_vars`, run with
//! bounded concurrency, and split in halves when Moodle fails a whole chunk for
//! one bad record, until that record is isolated and reported with its reason
//! while the others go through.
//!
//! Moodle's batch functions run in one database transaction: a failed call
//! changed nothing, so sending the halves again is safe.

use super::client::{MoodleClient, encode_params};
use super::error::MoodleError;
use super::functions::WsFunction;
use super::types::{
    CourseUpdate, CreatedCourse, CreatedUser, Enrolment, MoodleWarning, NewCourse, NewUser,
    Unenrolment, UserUpdate, WarningsOnly,
};
use futures::future::BoxFuture;
use futures::stream::{self, StreamExt};
use serde::Serialize;
use serde::de::{DeserializeOwned, IgnoredAny};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// One record's outcome. Errors are shared (`Arc`) because one Moodle error can
/// be the reason for several records (a site-wide failure, a lost answer).
pub type RecordResult<T> = Result<T, Arc<MoodleError>>;

/// The outcome of a batch operation: one result per input record, in input order.
#[derive(Debug)]
pub struct BatchOutcome<T> {
    pub records: Vec<RecordResult<T>>,
    /// Warnings Moodle sent that name no record of the batch: surfaced, never dropped.
    pub warnings: Vec<MoodleWarning>,
}

impl<T> BatchOutcome<T> {
    /// Records that went through, by input index.
    pub fn succeeded(&self) -> impl Iterator<Item = (usize, &T)> {
        self.records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().ok().map(|t| (i, t)))
    }

    /// Records that failed, by input index, with the reason.
    pub fn failed(&self) -> impl Iterator<Item = (usize, &MoodleError)> {
        self.records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e.as_ref())))
    }

    /// Why record `index` failed, if it did.
    pub fn error(&self, index: usize) -> Option<&MoodleError> {
        self.records
            .get(index)
            .and_then(|r| r.as_ref().err())
            .map(|e| e.as_ref())
    }

    pub fn all_succeeded(&self) -> bool {
        self.records.iter().all(Result::is_ok) && self.warnings.is_empty()
    }

    /// The site-wide error (bad token, function not in the service) that stopped
    /// the batch, if one did.
    pub fn stopped_by(&self) -> Option<&MoodleError> {
        self.failed().map(|(_, e)| e).find(|e| e.is_site_wide())
    }
}

/// What distinguishes one batch function from another.
pub(crate) trait BatchCall {
    type Record: Serialize + Sync;
    type Response: DeserializeOwned + Send;
    type Output: Send;
    const FUNCTION: WsFunction;
    /// The array's name: `users`, `courses`, `enrolments`.
    const KEY: &'static str;

    /// A record refused before any call (e.g. the site course).
    fn precheck(_record: &Self::Record) -> Option<MoodleError> {
        None
    }

    /// Per-record outcomes of a chunk Moodle accepted, and the warnings no record claims.
    fn outcomes(
        chunk: &[&Self::Record],
        response: Self::Response,
    ) -> (Vec<RecordResult<Self::Output>>, Vec<MoodleWarning>);
}

type ChunkResult<T> = (Vec<(usize, RecordResult<T>)>, Vec<MoodleWarning>);

impl MoodleClient {
    pub(crate) async fn run_batch<B: BatchCall>(
        &self,
        records: &[B::Record],
    ) -> BatchOutcome<B::Output> {
        let mut results: Vec<Option<RecordResult<B::Output>>> =
            records.iter().map(|_| None).collect();
        let mut chunks: Vec<Vec<usize>> = Vec::new();
        let mut current: Vec<usize> = Vec::new();
        let mut current_vars = 0usize;
        let config = self.config();
        let batch_size = config.batch_size.max(1);
        // wstoken, wsfunction and moodlewsrestformat take three of the site's input vars.
        let budget = config.max_input_vars.saturating_sub(3).max(1);

        for (i, record) in records.iter().enumerate() {
            if let Some(refusal) = B::precheck(record) {
                results[i] = Some(Err(Arc::new(refusal)));
                continue;
            }
            let vars = match record_vars::<B>(record) {
                Ok(vars) => vars,
                Err(e) => {
                    results[i] = Some(Err(Arc::new(e)));
                    continue;
                }
            };
            if !current.is_empty() && (current.len() >= batch_size || current_vars + vars > budget)
            {
                chunks.push(std::mem::take(&mut current));
                current_vars = 0;
            }
            current.push(i);
            current_vars += vars;
        }
        if !current.is_empty() {
            chunks.push(current);
        }

        let stop = OnceLock::new();
        let done: Vec<ChunkResult<B::Output>> = stream::iter(chunks)
            .map(|chunk| self.run_chunk::<B>(records, chunk, &stop))
            .buffer_unordered(config.max_concurrency.max(1))
            .collect()
            .await;

        let mut warnings = Vec::new();
        for (outcomes, chunk_warnings) in done {
            for (i, outcome) in outcomes {
                results[i] = Some(outcome);
            }
            warnings.extend(chunk_warnings);
        }
        let records = results
            .into_iter()
            .map(|r| {
                r.unwrap_or_else(|| {
                    Err(Arc::new(MoodleError::MissingFromAnswer {
                        function: B::FUNCTION.name(),
                    }))
                })
            })
            .collect();
        BatchOutcome { records, warnings }
    }

    fn run_chunk<'a, B: BatchCall>(
        &'a self,
        records: &'a [B::Record],
        chunk: Vec<usize>,
        stop: &'a OnceLock<Arc<MoodleError>>,
    ) -> BoxFuture<'a, ChunkResult<B::Output>>
    where
        B::Record: 'a,
    {
        Box::pin(async move {
            if let Some(e) = stop.get() {
                return (
                    chunk.into_iter().map(|i| (i, Err(e.clone()))).collect(),
                    Vec::new(),
                );
            }
            let batch: Vec<&B::Record> = chunk.iter().map(|&i| &records[i]).collect();
            let answer = match encode_params(B::FUNCTION, &BTreeMap::from([(B::KEY, &batch)])) {
                Ok(params) => self.call_encoded::<B::Response>(B::FUNCTION, &params).await,
                Err(e) => Err(e),
            };
            match answer {
                Ok(response) => {
                    let (outcomes, warnings) = B::outcomes(&batch, response);
                    (chunk.into_iter().zip(outcomes).collect(), warnings)
                }
                Err(e) if chunk.len() > 1 && e.blames_a_record() => {
                    let mut left = chunk;
                    let right = left.split_off(left.len() / 2);
                    let ((mut outcomes, mut warnings), (more, more_warnings)) = futures::join!(
                        self.run_chunk::<B>(records, left, stop),
                        self.run_chunk::<B>(records, right, stop)
                    );
                    outcomes.extend(more);
                    warnings.extend(more_warnings);
                    (outcomes, warnings)
                }
                Err(e) => {
                    if chunk.len() == 1 {
                        tracing::info!(function = B::FUNCTION.name(), error = %e, "Moodle refused a record");
                    }
                    let e = Arc::new(e);
                    if e.is_site_wide() {
                        let _ = stop.set(e.clone());
                    }
                    (
                        chunk.into_iter().map(|i| (i, Err(e.clone()))).collect(),
                        Vec::new(),
                    )
                }
            }
        })
    }
}

/// How many form fields one record takes.
fn record_vars<B: BatchCall>(record: &B::Record) -> Result<usize, MoodleError> {
    let one = encode_params(B::FUNCTION, &BTreeMap::from([(B::KEY, [record])]))?;
    Ok(if one.is_empty() {
        0
    } else {
        one.split('&').count()
    })
}

fn refuse_site_course(course: super::ids::MoodleCourseId) -> Option<MoodleError> {
    course.is_site().then_some(MoodleError::SiteCourse)
}

/// Answers to updates carry warnings by `itemid`: each becomes its record's failure.
fn warnings_by_id<R>(
    chunk: &[&R],
    id: impl Fn(&R) -> i64,
    response: WarningsOnly,
) -> (Vec<RecordResult<()>>, Vec<MoodleWarning>) {
    let mut outcomes: Vec<RecordResult<()>> = chunk.iter().map(|_| Ok(())).collect();
    let mut unclaimed = Vec::new();
    for warning in response.warnings {
        let position = warning
            .itemid
            .and_then(|item| chunk.iter().position(|r| id(r) == item));
        match position {
            Some(p) if outcomes[p].is_ok() => {
                outcomes[p] = Err(Arc::new(MoodleError::Warning { warning }))
            }
            _ => unclaimed.push(warning),
        }
    }
    (outcomes, unclaimed)
}

/// Created records come back as `[{id, key}]`: match by key, else by position.
fn match_created<R, C: Clone>(
    chunk: &[&R],
    created: Vec<C>,
    record_key: impl Fn(&R) -> String,
    created_key: impl Fn(&C) -> String,
    function: WsFunction,
) -> Vec<RecordResult<C>> {
    let same_length = created.len() == chunk.len();
    chunk
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let key = record_key(r).to_lowercase();
            created
                .iter()
                .find(|c| created_key(c).to_lowercase() == key)
                .or_else(|| if same_length { created.get(i) } else { None })
                .cloned()
                .ok_or_else(|| {
                    Arc::new(MoodleError::MissingFromAnswer {
                        function: function.name(),
                    })
                })
        })
        .collect()
}

pub(crate) struct CreateUsers;
impl BatchCall for CreateUsers {
    type Record = NewUser;
    type Response = Vec<CreatedUser>;
    type Output = CreatedUser;
    const FUNCTION: WsFunction = WsFunction::CreateUsers;
    const KEY: &'static str = "users";

    fn outcomes(
        chunk: &[&NewUser],
        response: Vec<CreatedUser>,
    ) -> (Vec<RecordResult<CreatedUser>>, Vec<MoodleWarning>) {
        (
            match_created(
                chunk,
                response,
                |u| u.username.clone(),
                |c| c.username.clone(),
                Self::FUNCTION,
            ),
            Vec::new(),
        )
    }
}

pub(crate) struct UpdateUsers;
impl BatchCall for UpdateUsers {
    type Record = UserUpdate;
    type Response = WarningsOnly;
    type Output = ();
    const FUNCTION: WsFunction = WsFunction::UpdateUsers;
    const KEY: &'static str = "users";

    fn outcomes(
        chunk: &[&UserUpdate],
        response: WarningsOnly,
    ) -> (Vec<RecordResult<()>>, Vec<MoodleWarning>) {
        warnings_by_id(chunk, |u| u.id.get(), response)
    }
}

pub(crate) struct CreateCourses;
impl BatchCall for CreateCourses {
    type Record = NewCourse;
    type Response = Vec<CreatedCourse>;
    type Output = CreatedCourse;
    const FUNCTION: WsFunction = WsFunction::CreateCourses;
    const KEY: &'static str = "courses";

    fn outcomes(
        chunk: &[&NewCourse],
        response: Vec<CreatedCourse>,
    ) -> (Vec<RecordResult<CreatedCourse>>, Vec<MoodleWarning>) {
        (
            match_created(
                chunk,
                response,
                |c| c.shortname.clone(),
                |c| c.shortname.clone(),
                Self::FUNCTION,
            ),
            Vec::new(),
        )
    }
}

pub(crate) struct UpdateCourses;
impl BatchCall for UpdateCourses {
    type Record = CourseUpdate;
    type Response = WarningsOnly;
    type Output = ();
    const FUNCTION: WsFunction = WsFunction::UpdateCourses;
    const KEY: &'static str = "courses";

    fn precheck(record: &CourseUpdate) -> Option<MoodleError> {
        refuse_site_course(record.id)
    }

    fn outcomes(
        chunk: &[&CourseUpdate],
        response: WarningsOnly,
    ) -> (Vec<RecordResult<()>>, Vec<MoodleWarning>) {
        warnings_by_id(chunk, |c| c.id.get(), response)
    }
}

pub(crate) struct Enrol;
impl BatchCall for Enrol {
    type Record = Enrolment;
    type Response = IgnoredAny;
    type Output = ();
    const FUNCTION: WsFunction = WsFunction::EnrolUsers;
    const KEY: &'static str = "enrolments";

    fn precheck(record: &Enrolment) -> Option<MoodleError> {
        refuse_site_course(record.courseid)
    }

    fn outcomes(
        chunk: &[&Enrolment],
        _: IgnoredAny,
    ) -> (Vec<RecordResult<()>>, Vec<MoodleWarning>) {
        (chunk.iter().map(|_| Ok(())).collect(), Vec::new())
    }
}

pub(crate) struct Unenrol;
impl BatchCall for Unenrol {
    type Record = Unenrolment;
    type Response = IgnoredAny;
    type Output = ();
    const FUNCTION: WsFunction = WsFunction::UnenrolUsers;
    const KEY: &'static str = "enrolments";

    fn precheck(record: &Unenrolment) -> Option<MoodleError> {
        refuse_site_course(record.courseid)
    }

    fn outcomes(
        chunk: &[&Unenrolment],
        _: IgnoredAny,
    ) -> (Vec<RecordResult<()>>, Vec<MoodleWarning>) {
        (chunk.iter().map(|_| Ok(())).collect(), Vec::new())
    }
}
