//! The transfer preview: for each enrolment of an offering, ready (green),
//! already transferred (white) or blocked with every reason a person can fix (red).
//!
//! Local reasons come from the SMS's records alone ([`local_blocks`]); the reasons
//! only Moodle can tell (email or username used by another user, stored user
//! missing, ambiguous match) come from [`crate::matching::decide`].

use crate::sis::{BlockReason, Enrolment, EnrolmentState, Learner, Transfer, TransferStatus};

/// Moodle's own test (`validate_email`, simplified the way the simulator and
/// Moodle agree on): one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn valid_email(email: &str) -> bool {
    let email = email.trim();
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(char::is_whitespace)
        && email.len() <= 100
}

/// Whether an enrolment takes part in a push at all: completed ones do not.
pub fn is_pushable(enrolment: &Enrolment) -> bool {
    !matches!(enrolment.state, EnrolmentState::Completed)
}

/// Every reason the SMS's records alone give for not transferring, in the order a
/// person reads them. Empty: ready as far as the SMS is concerned.
pub fn local_blocks(
    learner: Option<&Learner>,
    enrolment: &Enrolment,
    linked: bool,
) -> Vec<BlockReason> {
    let mut reasons = Vec::new();
    if !linked {
        reasons.push(BlockReason::OfferingNotLinked);
    }
    if enrolment.state == EnrolmentState::Withdrawn {
        reasons.push(BlockReason::EnrolmentWithdrawn);
    }
    let Some(learner) = learner else {
        reasons.push(BlockReason::LearnerNotFound);
        return reasons;
    };
    if learner.archived {
        reasons.push(BlockReason::LearnerArchived);
    }
    if learner.given_name.trim().is_empty() {
        reasons.push(BlockReason::MissingGivenName);
    }
    if learner.family_name.trim().is_empty() {
        reasons.push(BlockReason::MissingSurname);
    }
    match learner.email.as_deref().map(str::trim) {
        None | Some("") => reasons.push(BlockReason::MissingEmail),
        Some(email) if !valid_email(email) => reasons.push(BlockReason::InvalidEmail),
        Some(_) => {}
    }
    reasons
}

/// An enrolment's status in the preview. A transfer that already happened stays
/// transferred (white) whatever changed since; otherwise the reasons decide.
pub fn preview_status(existing: Option<&Transfer>, reasons: Vec<BlockReason>) -> TransferStatus {
    match existing.map(|t| &t.status) {
        Some(TransferStatus::Transferred) => TransferStatus::Transferred,
        Some(TransferStatus::Removed) => TransferStatus::Removed,
        _ if reasons.is_empty() => TransferStatus::Ready,
        _ => TransferStatus::Blocked { reasons },
    }
}

/// Whether a push should (re)try this enrolment: not transferred nor removed yet.
pub fn needs_push(existing: Option<&Transfer>) -> bool {
    !matches!(
        existing.map(|t| &t.status),
        Some(TransferStatus::Transferred | TransferStatus::Removed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConnectionId, LearnerCode, OfferingId, TenantId};
    use chrono::{DateTime, Utc};

    fn learner() -> Learner {
        Learner {
            tenant: TenantId::parse("acme").unwrap(),
            code: LearnerCode::parse("X1234567").unwrap(),
            username: None,
            given_name: "Ana".into(),
            middle_name: None,
            family_name: "Ruiz".into(),
            email: Some("ana.ruiz@example.com".into()),
            date_of_birth: None,
            archived: false,
            email_opt_out: false,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn enrolment(state: EnrolmentState) -> Enrolment {
        Enrolment {
            tenant: TenantId::parse("acme").unwrap(),
            learner: LearnerCode::parse("X1234567").unwrap(),
            offering: OfferingId::parse("OCC-1001").unwrap(),
            state,
            start_date: None,
            session_date: None,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn transfer(status: TransferStatus) -> Transfer {
        Transfer {
            tenant: TenantId::parse("acme").unwrap(),
            connection: ConnectionId::parse("moodle").unwrap(),
            offering: OfferingId::parse("OCC-1001").unwrap(),
            learner: LearnerCode::parse("X1234567").unwrap(),
            status,
            external_user: Some(4),
            transferred_at: None,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
            removal_error: None,
        }
    }

    #[test]
    fn email_validity() {
        for ok in ["a@b.co", "ana.ruiz+x@example.com", " a@b.co "] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "", "ana", "ana@", "@b.co", "a@b", "a@.b.co", "a@b.co.", "a b@c.co", "a@b@c.co",
            "a@b..co",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn local_block_table() {
        use BlockReason::*;
        use EnrolmentState::*;
        let with = |f: fn(&mut Learner)| {
            let mut l = learner();
            f(&mut l);
            l
        };
        type Case = (
            &'static str,
            Option<Learner>,
            EnrolmentState,
            bool,
            Vec<BlockReason>,
        );
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("ready", Some(learner()), NotCalled, true, vec![]),
            ("in progress is still pushable", Some(learner()), InProgress, true, vec![]),
            ("missing email", Some(with(|l| l.email = None)), NotCalled, true, vec![MissingEmail]),
            ("blank email", Some(with(|l| l.email = Some("  ".into()))), NotCalled, true, vec![MissingEmail]),
            ("invalid email", Some(with(|l| l.email = Some("ana@".into()))), NotCalled, true, vec![InvalidEmail]),
            ("missing surname", Some(with(|l| l.family_name = " ".into())), NotCalled, true, vec![MissingSurname]),
            ("missing given name", Some(with(|l| l.given_name = String::new())), NotCalled, true, vec![MissingGivenName]),
            ("archived", Some(with(|l| l.archived = true)), NotCalled, true, vec![LearnerArchived]),
            ("offering not linked", Some(learner()), NotCalled, false, vec![OfferingNotLinked]),
            ("withdrawn", Some(learner()), Withdrawn, true, vec![EnrolmentWithdrawn]),
            ("unknown learner", None, NotCalled, true, vec![LearnerNotFound]),
            ("every reason at once", Some(with(|l| { l.archived = true; l.family_name.clear(); l.email = None; })), Withdrawn, false,
                vec![OfferingNotLinked, EnrolmentWithdrawn, LearnerArchived, MissingSurname, MissingEmail]),
        ];
        for (name, l, state, linked, want) in cases {
            assert_eq!(
                local_blocks(l.as_ref(), &enrolment(state), linked),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn preview_colours() {
        assert_eq!(preview_status(None, vec![]), TransferStatus::Ready);
        let blocked = preview_status(None, vec![BlockReason::MissingEmail]);
        assert_eq!(
            blocked,
            TransferStatus::Blocked {
                reasons: vec![BlockReason::MissingEmail]
            }
        );
        let earlier_block = transfer(TransferStatus::Blocked {
            reasons: vec![BlockReason::MissingEmail],
        });
        assert_eq!(
            preview_status(Some(&earlier_block), vec![]),
            TransferStatus::Ready,
            "fixed: ready again"
        );
        let done = transfer(TransferStatus::Transferred);
        assert_eq!(
            preview_status(Some(&done), vec![BlockReason::LearnerArchived]),
            TransferStatus::Transferred
        );
        assert!(!needs_push(Some(&done)));
        assert!(needs_push(Some(&earlier_block)));
        assert!(needs_push(None));
        assert!(!is_pushable(&enrolment(EnrolmentState::Completed)));
    }
}
