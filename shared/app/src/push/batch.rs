//! One batch of an offering's sendable enrolments, from their look-ups to
//! their emails: who is held back, the plan, then the steps `create`, `link`
//! and `enrol`.

use super::chunk::{Chunk, ChunkDone, Create, Existing};
use super::error::PushError;
use super::load::Loaded;
use super::look_up::{LookedUp, look_up};
use super::service::{Push, line};
use crate::errors::error_text;
use chrono::{DateTime, Utc};
use domain::learning::{LearningError, LmsUser};
use domain::matching;
use domain::messages;
use domain::plan::{self, Step};
use domain::sis::{Enrolment, Learner};
use domain::{LearnerCode, LogLevel};
use secrecy::SecretString;
use std::collections::BTreeSet;

impl Push<'_> {
    /// One batch of an offering's sendable enrolments, from their look-ups
    /// to their emails: the users nobody matched are created (their accounts
    /// stored and counted as soon as Moodle answers), the others linked, and
    /// all enrolled; their transfers, log lines and counts are written as each
    /// step is durable.
    pub(super) async fn push_chunk<'a>(
        &self,
        cx: &Chunk<'a>,
        enrolments: &[&'a Enrolment],
    ) -> Result<ChunkDone<'a>, PushError> {
        let loaded = cx.loaded;
        let mut done = ChunkDone::default();
        let learners: Vec<&Learner> = enrolments
            .iter()
            .filter_map(|e| loaded.learners.get(&e.learner))
            .collect();
        let LookedUp { found, unavailable } =
            look_up(cx.lms, cx.settings, &learners, &loaded.accounts).await?;
        let held = hold_unavailable(loaded, &unavailable, &mut done, cx.now);
        let (creates, mut existing) = plan_batch(cx, enrolments, &held, &found, &mut done);

        let mut going = Vec::new();
        if !creates.is_empty() {
            self.create_users(cx, &creates, &mut existing, &mut going, &mut done)
                .await?;
        }
        let already = if existing.is_empty() {
            Vec::new()
        } else {
            self.link_existing(cx, existing, &mut going, &mut done)
                .await?
        };
        self.links.save_transfers(&already).await?;
        if !going.is_empty() {
            self.enrol(cx, &going, &mut done).await?;
        }
        Ok(done)
    }
}

/// Nothing is decided for a learner Moodle could not be asked about: they
/// stay ready for the next run, and the run says so. The learners held back.
fn hold_unavailable<'u>(
    loaded: &Loaded,
    unavailable: &'u [(LearnerCode, LearningError)],
    done: &mut ChunkDone<'_>,
    now: DateTime<Utc>,
) -> BTreeSet<&'u LearnerCode> {
    let held: BTreeSet<&LearnerCode> = unavailable.iter().map(|(code, _)| code).collect();
    for (code, error) in unavailable {
        let name = loaded
            .learners
            .get(code)
            .map_or_else(|| String::from("?"), Learner::display_name);
        tracing::warn!(
            error = error as &dyn std::error::Error,
            "a learner's search stayed unavailable; left ready for the next run"
        );
        done.log.push(line(
            LogLevel::Warning,
            format!(
                "User {name} ({code}) - not pushed in this run: Moodle could not be searched for the learner ({}); it stays ready for the next run",
                error_text(error)
            ),
            now,
        ));
    }
    done.report.unavailable = unavailable.len();
    held
}

/// The plan of the batch's learners not held back: the users to create, the
/// existing users to enrol; the blocked go on `done`.
fn plan_batch<'a>(
    cx: &Chunk<'a>,
    enrolments: &[&'a Enrolment],
    held: &BTreeSet<&LearnerCode>,
    found: &[LmsUser],
    done: &mut ChunkDone<'a>,
) -> (Vec<Create<'a>>, Vec<Existing<'a>>) {
    let (settings, loaded): (_, &'a Loaded) = (cx.settings, cx.loaded);
    let mut creates: Vec<Create<'a>> = Vec::new();
    let mut existing: Vec<Existing<'a>> = Vec::new();
    for e in enrolments
        .iter()
        .copied()
        .filter(|e| !held.contains(&e.learner))
    {
        match plan::plan_entry(settings, true, loaded.entry(e), found) {
            Step::AlreadyDone => {}
            Step::Blocked(reasons) => done.blocked.push((e, reasons)),
            Step::Enrol { user_id, by } => {
                if let Some(l) = loaded.learners.get(&e.learner) {
                    existing.push((e, l, user_id, by));
                }
            }
            Step::CreateAndEnrol => {
                if let Some(l) = loaded.learners.get(&e.learner) {
                    let password = matching::new_user_password(settings, new_password);
                    creates.push((e, l, matching::new_user(l, settings, password)));
                }
            }
        }
    }
    (creates, existing)
}

/// A password for a new user (only used when the connection generates them).
fn new_password() -> SecretString {
    messages::generated_password(rand::random())
}
