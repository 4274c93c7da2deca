//! One batch of an offering's sendable enrolments, from their look-ups to
//! their emails: who is held back, the plan, then the steps `create`, `link`
//! and `enrol`.

use super::chunk::{Chunk, ChunkDone, Create, Existing};
use super::error::PushError;
use super::load::{Loaded, People};
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
    ) -> Result<ChunkDone, PushError> {
        let people = cx.people;
        let mut done = ChunkDone::default();
        let learners: Vec<&Learner> = enrolments
            .iter()
            .filter_map(|e| people.learners.get(&e.learner))
            .collect();
        // One batch's look-ups at a time (they fill the connection's
        // permits): the first batch's look-ups end first, and its creates,
        // stores and enrolments overlap the next batch's look-ups, so Moodle
        // is not left idle while several batches store at once.
        let turn = cx.looking.lock().await;
        let looked = look_up(cx.lms, cx.settings, &learners, &people.accounts).await;
        drop(turn);
        let LookedUp { found, unavailable } = looked?;
        let held = hold_unavailable(people, &unavailable, &mut done, cx.now);
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
    people: &People,
    unavailable: &'u [(LearnerCode, LearningError)],
    done: &mut ChunkDone,
    now: DateTime<Utc>,
) -> BTreeSet<&'u LearnerCode> {
    let held: BTreeSet<&LearnerCode> = unavailable.iter().map(|(code, _)| code).collect();
    for (code, error) in unavailable {
        let name = people
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
    done: &mut ChunkDone,
) -> (Vec<Create<'a>>, Vec<Existing<'a>>) {
    let (settings, loaded, people): (_, &'a Loaded, &'a People) =
        (cx.settings, cx.loaded, cx.people);
    let mut creates: Vec<Create<'a>> = Vec::new();
    let mut existing: Vec<Existing<'a>> = Vec::new();
    for e in enrolments
        .iter()
        .copied()
        .filter(|e| !held.contains(&e.learner))
    {
        match plan::plan_entry(settings, true, people.entry(loaded, e), found) {
            Step::AlreadyDone => {}
            Step::Blocked(reasons) => done.blocked.push((e.clone(), reasons)),
            Step::Enrol { user_id, by } => {
                if let Some(l) = people.learners.get(&e.learner) {
                    existing.push((e, l, user_id, by));
                }
            }
            Step::CreateAndEnrol => {
                if let Some(l) = people.learners.get(&e.learner) {
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
