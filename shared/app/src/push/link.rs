//! A batch's step for the learners Moodle has a user for: their accounts
//! stored, and each either already enrolled (transferred) or going to be.

use super::chunk::{Chunk, ChunkDone, Existing, Going};
use super::error::PushError;
use super::load::transfer_record;
use super::service::{Push, count, line};
use domain::matching::MatchedBy;
use domain::messages;
use domain::run::counts;
use domain::sis::{Learner, Transfer, TransferStatus};
use domain::{LearnerCode, LogLevel};
use std::collections::HashMap;

impl Push<'_> {
    /// Existing users: stores the accounts not stored yet, and enrols unless
    /// already enrolled (those join `going`). The transfers of those Moodle
    /// enrols already, for the caller to save.
    pub(super) async fn link_existing<'a>(
        &self,
        cx: &Chunk<'a>,
        existing: Vec<Existing<'a>>,
        going: &mut Vec<Going<'a>>,
        done: &mut ChunkDone,
    ) -> Result<Vec<Transfer>, PushError> {
        let (tenant, connection, run, now) = (cx.tenant, cx.connection, cx.run, cx.now);
        let loaded = cx.loaded;
        let mut already: Vec<Transfer> = Vec::new();
        let enrolled = cx.enrolled_users().await?;
        let unstored: Vec<(&Learner, i64, bool)> = existing
            .iter()
            .filter(|(_, l, _, _)| !cx.people.accounts.contains_key(&l.code))
            .map(|(_, l, id, by)| (*l, *id, *by == MatchedBy::EarlierAttempt))
            .collect();
        let stored_ids: HashMap<&LearnerCode, (i64, bool)> = unstored
            .iter()
            .map(|(l, _, _)| &l.code)
            .zip(
                self.store_accounts(tenant, connection, &unstored, now)
                    .await?,
            )
            .collect();
        let mut lines = Vec::new();
        let mut linked = 0;
        for (e, l, user_id, _) in existing {
            let id = match stored_ids.get(&l.code) {
                Some((id, fresh)) => {
                    if *fresh {
                        linked += 1;
                        lines.push(line(LogLevel::Info, messages::linked(l, *id), now));
                    }
                    *id
                }
                None => user_id,
            };
            if enrolled.contains(&id) {
                done.report.already_enrolled += 1;
                already.push(transfer_record(
                    tenant,
                    connection,
                    loaded,
                    e,
                    TransferStatus::Transferred,
                    Some(id),
                    now,
                ));
            } else {
                going.push(Going {
                    enrolment: e,
                    learner: l,
                    user: id,
                    created: false,
                    password: None,
                    username: None,
                });
            }
        }
        done.report.linked += linked;
        self.record(
            tenant,
            connection,
            run,
            &lines,
            &[(counts::USERS_MATCHED, count(linked))],
        )
        .await?;
        Ok(already)
    }
}
