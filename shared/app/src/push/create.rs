//! A batch's step for the users nobody matched: created in Moodle, one call
//! per batch, their accounts stored (and counted) as soon as Moodle answers;
//! those Moodle refuses are looked up and decided again.

use super::chunk::{Chunk, ChunkDone, Create, Existing, Going};
use super::error::PushError;
use super::service::{Push, count, line};
use domain::LogLevel;
use domain::learning::{NewLmsUser, NewUserPassword, RecordFailure, UserLookup};
use domain::matching::{self, MatchDecision};
use domain::messages;
use domain::run::counts;
use domain::sis::{BlockReason, Enrolment, Learner};

/// A user Moodle refused to create, and why.
type Refused<'c, 'a> = (&'a Enrolment, &'a Learner, &'c NewLmsUser, BlockReason);

impl Push<'_> {
    /// Creates the users nobody matched, one call per batch; their
    /// accounts are stored (and counted) as soon as Moodle answers, and they
    /// join `going`. Those Moodle refuses are decided again
    /// ([`decide_refused`]).
    pub(super) async fn create_users<'a>(
        &self,
        cx: &Chunk<'a>,
        creates: &[Create<'a>],
        existing: &mut Vec<Existing<'a>>,
        going: &mut Vec<Going<'a>>,
        done: &mut ChunkDone,
    ) -> Result<(), PushError> {
        let (tenant, connection, run, now) = (cx.tenant, cx.connection, cx.run, cx.now);
        let users: Vec<NewLmsUser> = creates.iter().map(|(_, _, u)| u.clone()).collect();
        let outcomes = cx.lms.create_users(&users).await;
        let mut refused: Vec<Refused<'_, 'a>> = Vec::new();
        let mut made: Vec<(&Enrolment, &Learner, &NewLmsUser, i64)> = Vec::new();
        for ((e, l, user), outcome) in creates.iter().zip(outcomes) {
            match outcome {
                Ok(id) => made.push((e, l, user, id)),
                Err(RecordFailure::Refused(reason)) => refused.push((e, l, user, reason)),
                Err(RecordFailure::Failed(err)) => {
                    done.transient.get_or_insert(err);
                }
            }
        }
        let wanted: Vec<(&Learner, i64, bool)> =
            made.iter().map(|(_, l, _, id)| (*l, *id, true)).collect();
        let ids = self
            .store_accounts(tenant, connection, &wanted, now)
            .await?;
        let mut lines = Vec::new();
        for ((e, l, user, _), (id, _)) in made.into_iter().zip(ids) {
            done.report.created += 1;
            lines.push(line(LogLevel::Info, messages::registered(l), now));
            let password = match &user.password {
                NewUserPassword::Generated(p) => Some(p.clone()),
                _ => None,
            };
            going.push(Going {
                enrolment: e,
                learner: l,
                user: id,
                created: true,
                password,
                username: Some(user.username.clone()),
            });
        }
        self.record(
            tenant,
            connection,
            run,
            &lines,
            &[(counts::USERS_CREATED, count(done.report.created))],
        )
        .await?;
        if !refused.is_empty() {
            decide_refused(cx, refused, existing, done).await?;
        }
        Ok(())
    }
}

/// Moodle refused some: someone holds the username or email (a user
/// created earlier in this push, or on an attempt whose answer was
/// lost). Look both up and decide again: link, or block with why.
async fn decide_refused<'a>(
    cx: &Chunk<'a>,
    refused: Vec<Refused<'_, 'a>>,
    existing: &mut Vec<Existing<'a>>,
    done: &mut ChunkDone,
) -> Result<(), PushError> {
    // Only the usernames every site takes as they are: Moodle refuses the
    // whole look-up over one it would clean (such a username is likely why
    // its create was refused; that refusal is then its reason).
    let usernames: Vec<String> = refused
        .iter()
        .map(|(_, _, u, _)| u.username.clone())
        .filter(|u| matching::username_kept_as_is(u))
        .collect();
    let emails: Vec<String> = refused.iter().map(|(_, _, u, _)| u.email.clone()).collect();
    let (by_username, by_email) = futures::try_join!(
        async {
            if usernames.is_empty() {
                Ok(Vec::new())
            } else {
                cx.lms.users_by(UserLookup::Username, &usernames).await
            }
        },
        cx.lms.users_by(UserLookup::Email, &emails)
    )?;
    let mut again = by_username;
    again.extend(by_email);
    for (e, l, _, reason) in refused {
        match matching::decide(l, cx.settings, None, &again) {
            MatchDecision::Existing { user_id, by } => {
                existing.push((e, l, user_id, by));
            }
            MatchDecision::Blocked(why) => done.blocked.push((e.clone(), vec![why])),
            MatchDecision::Create => done.blocked.push((e.clone(), vec![reason])),
        }
    }
    Ok(())
}
