//! The push plan: for each enrolment of an offering, what a push does — nothing
//! (already transferred), block (with every reason), enrol an existing Moodle
//! user, or create the user and enrol them.
//!
//! The plan is a pure function of the SMS's records, what learnbridge stored
//! (transfers, accounts) and what the look-ups found in Moodle. Applying a plan
//! records transfers and accounts, so planning again over the new state changes
//! nothing (the `idempotent` property test below).

use crate::connection::MoodleSettings;
use crate::learning::LmsUser;
use crate::matching::{self, MatchDecision, MatchedBy};
use crate::sis::{BlockReason, Enrolment, ExternalAccount, Learner, Transfer};
use crate::transfer;

/// One enrolment with what is known about it.
#[derive(Debug, Clone, Copy)]
pub struct PlanEntry<'a> {
    pub enrolment: &'a Enrolment,
    pub learner: Option<&'a Learner>,
    pub transfer: Option<&'a Transfer>,
    pub account: Option<&'a ExternalAccount>,
}

/// What a push does with one enrolment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Transferred (or removed) already: nothing to do.
    AlreadyDone,
    Blocked(Vec<BlockReason>),
    /// An existing Moodle user: link (if not stored yet) and enrol unless enrolled.
    Enrol {
        user_id: i64,
        by: MatchedBy,
    },
    /// No Moodle user: create one, then enrol.
    CreateAndEnrol,
}

/// Every reason, local and from Moodle, and the match for a ready one.
pub fn plan_entry(
    settings: &MoodleSettings,
    linked: bool,
    entry: PlanEntry<'_>,
    found: &[LmsUser],
) -> Step {
    if !transfer::needs_push(entry.transfer) {
        return Step::AlreadyDone;
    }
    let mut reasons = transfer::local_blocks(entry.learner, entry.enrolment, linked);
    let decision = entry.learner.map(|learner| {
        matching::decide(
            learner,
            settings,
            entry.account.map(|a| a.external_id),
            found,
        )
    });
    match decision {
        Some(MatchDecision::Blocked(reason)) => {
            reasons.push(reason);
            Step::Blocked(reasons)
        }
        _ if !reasons.is_empty() => Step::Blocked(reasons),
        Some(MatchDecision::Existing { user_id, by }) => Step::Enrol { user_id, by },
        Some(MatchDecision::Create) => Step::CreateAndEnrol,
        // No learner: local_blocks said so.
        None => Step::Blocked(vec![BlockReason::LearnerNotFound]),
    }
}

/// The plan for a batch, in input order.
pub fn plan(
    settings: &MoodleSettings,
    linked: bool,
    entries: &[PlanEntry<'_>],
    found: &[LmsUser],
) -> Vec<Step> {
    entries
        .iter()
        .map(|e| plan_entry(settings, linked, *e, found))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::{MatchField, MatchOrder};
    use crate::ids::{ConnectionId, LearnerCode, OfferingId, TenantId};
    use crate::learning::UserLookup;
    use crate::sis::{EnrolmentState, TransferStatus};
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH
    }

    fn learner(i: usize, email: Option<String>, archived: bool) -> Learner {
        Learner {
            tenant: TenantId::parse("acme").unwrap(),
            code: LearnerCode::parse(format!("L{i}")).unwrap(),
            username: None,
            given_name: format!("Given{i}"),
            middle_name: None,
            family_name: format!("Family{i}"),
            email,
            date_of_birth: None,
            archived,
            email_opt_out: false,
            updated_at: t0(),
        }
    }

    fn enrolment(code: &LearnerCode, withdrawn: bool) -> Enrolment {
        Enrolment {
            tenant: TenantId::parse("acme").unwrap(),
            learner: code.clone(),
            offering: OfferingId::parse("OCC-1").unwrap(),
            state: if withdrawn {
                EnrolmentState::Withdrawn
            } else {
                EnrolmentState::NotCalled
            },
            start_date: None,
            session_date: None,
            updated_at: t0(),
        }
    }

    /// A tiny Moodle: users and enrolments of one course.
    #[derive(Debug, Clone, PartialEq, Default)]
    struct Model {
        users: Vec<LmsUser>,
        enrolled: BTreeSet<i64>,
    }

    impl Model {
        fn lookup(&self, field: UserLookup, values: &[String]) -> Vec<LmsUser> {
            self.users
                .iter()
                .filter(|u| {
                    values.iter().any(|v| match field {
                        UserLookup::Id => u.id.to_string() == *v,
                        UserLookup::Idnumber => u.idnumber == *v,
                        UserLookup::Username => u.username == *v,
                        UserLookup::Email => u.email.eq_ignore_ascii_case(v),
                    })
                })
                .cloned()
                .collect()
        }
        fn create(&mut self, code: &str, username: &str, email: &str) -> Option<i64> {
            // Moodle's defaults: unique usernames, and no two accounts with one email.
            if self
                .users
                .iter()
                .any(|u| u.username == username || u.email.eq_ignore_ascii_case(email))
            {
                return None;
            }
            let id = 100 + self.users.len() as i64;
            self.users.push(LmsUser {
                id,
                username: username.into(),
                idnumber: code.into(),
                email: email.into(),
                firstname: String::new(),
                middlename: String::new(),
                lastname: String::new(),
                suspended: false,
            });
            Some(id)
        }
    }

    struct World {
        learners: Vec<Learner>,
        enrolments: Vec<Enrolment>,
        transfers: BTreeMap<LearnerCode, Transfer>,
        accounts: BTreeMap<LearnerCode, ExternalAccount>,
        moodle: Model,
    }

    impl World {
        /// One push, the way the use case does it: look up, plan, apply.
        fn push(&mut self, settings: &MoodleSettings) -> Vec<Step> {
            let mut found = Vec::new();
            let ids: Vec<String> = self
                .accounts
                .values()
                .map(|a| a.external_id.to_string())
                .collect();
            found.extend(self.moodle.lookup(UserLookup::Id, &ids));
            for field in matching::lookup_fields(settings) {
                let values: Vec<String> = self
                    .learners
                    .iter()
                    .filter(|l| !self.accounts.contains_key(&l.code))
                    .filter_map(|l| matching::lookup_value(l, field, settings))
                    .collect();
                found.extend(self.moodle.lookup(field, &values));
            }
            let entries: Vec<PlanEntry<'_>> = self
                .enrolments
                .iter()
                .map(|e| PlanEntry {
                    enrolment: e,
                    learner: self.learners.iter().find(|l| l.code == e.learner),
                    transfer: self.transfers.get(&e.learner),
                    account: self.accounts.get(&e.learner),
                })
                .collect();
            let steps = plan(settings, true, &entries, &found);
            let applied: Vec<(LearnerCode, Step)> = self
                .enrolments
                .iter()
                .map(|e| e.learner.clone())
                .zip(steps.iter().cloned())
                .collect();
            for (code, step) in applied {
                let learner = self.learners.iter().find(|l| l.code == code).cloned();
                let status = match step {
                    Step::AlreadyDone => continue,
                    Step::Blocked(reasons) => TransferStatus::Blocked { reasons },
                    Step::Enrol { user_id, .. } => {
                        self.link(&code, user_id, false);
                        self.moodle.enrolled.insert(user_id);
                        TransferStatus::Transferred
                    }
                    Step::CreateAndEnrol => {
                        let Some(l) = learner else { continue };
                        let username = matching::username_for(&l, settings);
                        let email = l.email.clone().unwrap_or_default();
                        match self.moodle.create(code.as_str(), &username, &email) {
                            Some(id) => {
                                self.link(&code, id, true);
                                self.moodle.enrolled.insert(id);
                                TransferStatus::Transferred
                            }
                            // Refused (a user created earlier in this push took the
                            // username or email): look both up and decide again, as
                            // the use case does.
                            None => {
                                let mut again =
                                    self.moodle.lookup(UserLookup::Username, &[username]);
                                again.extend(self.moodle.lookup(UserLookup::Email, &[email]));
                                match matching::decide(&l, settings, None, &again) {
                                    MatchDecision::Existing { user_id, .. } => {
                                        self.link(&code, user_id, false);
                                        self.moodle.enrolled.insert(user_id);
                                        TransferStatus::Transferred
                                    }
                                    MatchDecision::Blocked(reason) => TransferStatus::Blocked {
                                        reasons: vec![reason],
                                    },
                                    MatchDecision::Create => TransferStatus::Blocked {
                                        reasons: vec![BlockReason::RefusedByMoodle {
                                            message: "refused".into(),
                                        }],
                                    },
                                }
                            }
                        }
                    }
                };
                self.transfers.insert(
                    code.clone(),
                    Transfer {
                        tenant: TenantId::parse("acme").unwrap(),
                        connection: ConnectionId::parse("moodle").unwrap(),
                        offering: OfferingId::parse("OCC-1").unwrap(),
                        learner: code,
                        status,
                        external_user: None,
                        transferred_at: None,
                        updated_at: t0(),
                        removal_error: None,
                    },
                );
            }
            steps
        }

        fn link(&mut self, code: &LearnerCode, id: i64, created: bool) {
            self.accounts
                .entry(code.clone())
                .or_insert(ExternalAccount {
                    tenant: TenantId::parse("acme").unwrap(),
                    connection: ConnectionId::parse("moodle").unwrap(),
                    learner: code.clone(),
                    external_id: id,
                    created_by_us: created,
                    linked_at: t0(),
                });
        }
    }

    fn settings_strategy() -> impl Strategy<Value = MoodleSettings> {
        (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(smartosh, code, email_rule)| {
            MoodleSettings {
                match_order: if smartosh {
                    MatchOrder::UsernameIdnumberEmail
                } else {
                    MatchOrder::LearnerCodeThenFields
                },
                match_learner_code_to_idnumber: code,
                match_fields: if email_rule {
                    vec![MatchField::Email]
                } else {
                    vec![]
                },
                ..MoodleSettings::default()
            }
        })
    }

    /// (email index or none, archived, withdrawn) per learner; existing Moodle
    /// users as (idnumber index, email index); emails from a small pool so they collide.
    type LearnerSpec = (Option<u8>, bool, bool);
    fn world_strategy() -> impl Strategy<Value = (Vec<LearnerSpec>, Vec<(u8, u8)>)> {
        (
            prop::collection::vec(
                (prop::option::of(0u8..6), any::<bool>(), any::<bool>()),
                1..12,
            ),
            prop::collection::vec((0u8..14, 0u8..8), 0..6),
        )
    }

    fn build(spec: &(Vec<LearnerSpec>, Vec<(u8, u8)>)) -> World {
        let (learners, existing) = spec;
        let learners: Vec<Learner> = learners
            .iter()
            .enumerate()
            .map(|(i, (email, archived, _))| {
                learner(i, email.map(|e| format!("p{e}@example.com")), *archived)
            })
            .collect();
        let enrolments = learners
            .iter()
            .zip(spec.0.iter())
            .map(|(l, (_, _, withdrawn))| enrolment(&l.code, *withdrawn))
            .collect();
        let mut moodle = Model::default();
        for (i, (idn, email)) in existing.iter().enumerate() {
            moodle.users.push(LmsUser {
                id: 10 + i as i64,
                username: format!("existing{i}"),
                idnumber: format!("L{idn}"),
                email: format!("p{email}@example.com"),
                firstname: String::new(),
                middlename: String::new(),
                lastname: String::new(),
                suspended: false,
            });
        }
        World {
            learners,
            enrolments,
            transfers: BTreeMap::new(),
            accounts: BTreeMap::new(),
            moodle,
        }
    }

    proptest! {
        /// A plan applied twice changes nothing the second time: no user created,
        /// no enrolment made, no account or transferred status changed.
        #[test]
        fn idempotent(settings in settings_strategy(), spec in world_strategy()) {
            let mut world = build(&spec);
            world.push(&settings);
            let moodle = world.moodle.clone();
            let accounts = world.accounts.clone();
            let transferred: BTreeSet<LearnerCode> = world.transfers.iter()
                .filter(|(_, t)| t.status == TransferStatus::Transferred)
                .map(|(c, _)| c.clone()).collect();

            let second = world.push(&settings);
            prop_assert_eq!(&world.moodle, &moodle, "Moodle changed on the second push");
            prop_assert_eq!(&world.accounts, &accounts);
            prop_assert!(!second.contains(&Step::CreateAndEnrol));
            for code in &transferred {
                prop_assert_eq!(&world.transfers[code].status, &TransferStatus::Transferred);
            }
            // Every user learnbridge created is linked to exactly one learner.
            let created = world.accounts.values().filter(|a| a.created_by_us).count();
            prop_assert_eq!(world.moodle.users.len(), spec.1.len() + created);
        }
    }

    #[test]
    fn a_lost_answer_is_recovered_not_duplicated() {
        // The create went through but its answer was lost: nothing was stored.
        let settings = MoodleSettings {
            match_learner_code_to_idnumber: false,
            ..MoodleSettings::default()
        };
        let mut world = build(&(vec![(Some(1), false, false)], vec![]));
        let l = world.learners[0].clone();
        let username = matching::username_for(&l, &settings);
        world.moodle.create("L0", &username, "p1@example.com");
        let steps = world.push(&settings);
        assert_eq!(
            steps,
            vec![Step::Enrol {
                user_id: 100,
                by: MatchedBy::EarlierAttempt
            }]
        );
        assert_eq!(world.moodle.users.len(), 1);
    }

    #[test]
    fn blocked_entries_list_local_and_moodle_reasons() {
        let settings = MoodleSettings::default();
        let mut world = build(&(vec![(Some(1), true, false)], vec![(9, 1)]));
        let steps = world.push(&settings);
        assert_eq!(
            steps,
            vec![Step::Blocked(vec![
                BlockReason::LearnerArchived,
                BlockReason::EmailUsedByAnotherUser { moodle_user_id: 10 }
            ])]
        );
    }
}
