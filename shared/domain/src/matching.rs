//! Matching a learner with a Moodle user, and the user fields learnbridge sends.
//!
//! Order (both seeds):
//! 1. A Moodle user id stored on the learner ([`crate::sis::ExternalAccount`]) wins;
//!    when that user no longer exists the enrolment is blocked (`StoredUserMissing`),
//!    never silently replaced by a new account.
//! 2. VETtrak ([`MatchOrder::LearnerCodeThenFields`]): learner code = Moodle idnumber
//!    (when `match_learner_code_to_idnumber`; idnumber is not unique in Moodle, so two
//!    or more matches block with `AmbiguousMatch`), then the `match_fields` rules
//!    combined with AND.
//!    Smartosh ([`MatchOrder::UsernameIdnumberEmail`]): identifier = username, then
//!    identifier = idnumber, then email.
//! 3. No match: create. Never a duplicate account: a Moodle user that already has the
//!    learner's email is linked only when the rules allow it (email among the rules, or
//!    the Smartosh order); otherwise the enrolment is blocked (`EmailUsedByAnotherUser`).
//!    A user with the username learnbridge would create and the learner's code as
//!    idnumber is the account learnbridge made on an earlier attempt whose answer was
//!    lost: it is linked, not created again.
//!
//! Username of a new user (always lower-case, as Moodle requires):
//! - Smartosh order: the identifier (learner code), as the Smartosh seed says
//!   ("Username (identifier)").
//! - VETtrak order: the SMS username when the learner has one (VETtrak syncs
//!   CLIE_USERNAME to the Moodle username); otherwise the email address (the VETtrak
//!   seed enables extended username characters precisely "to allow email addresses to
//!   be used for the Moodle user name"); otherwise the learner code.

use crate::connection::{MatchField, MatchOrder, MoodleSettings};
use crate::learning::{LmsUser, NewLmsUser, NewUserPassword, UserChanges, UserLookup};
use crate::sis::{BlockReason, Learner};

/// How a learner was matched with an existing Moodle user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchedBy {
    StoredAccount,
    Idnumber,
    Username,
    Email,
    Fields,
    /// The user learnbridge created on an earlier attempt (same username and idnumber).
    EarlierAttempt,
}

/// What to do with a learner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchDecision {
    Existing { user_id: i64, by: MatchedBy },
    Create,
    Blocked(BlockReason),
}

fn norm(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Whether two email addresses are one as Moodle sees them: Moodle keeps emails
/// unique ignoring letter case, and its email search (`core_user_get_users`) is a
/// case-insensitive `LIKE` where `_` and `%` are wildcards, so only the users
/// for whom this holds are the address's holders.
pub fn same_email(a: &str, b: &str) -> bool {
    let a = norm(a);
    !a.is_empty() && a == norm(b)
}

/// Why Moodle refused to create `username` with `email`, from the users a
/// look-up found by that username and that email (in any letter case): the
/// holder of either, or, when nobody holds them, that Moodle gave no reason.
pub fn refused_create(username: &str, email: &str, found: &[LmsUser]) -> BlockReason {
    let username = norm(username);
    if let Some(other) = found.iter().find(|u| norm(&u.username) == username) {
        return BlockReason::UsernameUsedByAnotherUser {
            username,
            moodle_user_id: other.id,
        };
    }
    if let Some(other) = found.iter().find(|u| same_email(&u.email, email)) {
        return BlockReason::EmailUsedByAnotherUser {
            moodle_user_id: other.id,
        };
    }
    BlockReason::CreateRefusedWithoutReason { username }
}

/// Why Moodle did not apply `changes` to user `changes.id`, from its warning
/// code (`core_user_update_users`) and the users a look-up found by the new
/// username and email: the holder of the email (`useremailduplicate`) or of the
/// username (`dmlwriteexception` on a username change), a user that is gone
/// (`invaliduserid`), else Moodle's own words.
pub fn refused_update(
    changes: &UserChanges,
    warningcode: &str,
    message: &str,
    found: &[LmsUser],
) -> BlockReason {
    let others = || found.iter().filter(|u| u.id != changes.id);
    match warningcode {
        "invaliduserid" => {
            return BlockReason::StoredUserMissing {
                moodle_user_id: changes.id,
            };
        }
        "useremailduplicate" => {
            if let Some(email) = &changes.email
                && let Some(other) = others().find(|u| same_email(&u.email, email))
            {
                return BlockReason::EmailUsedByAnotherUser {
                    moodle_user_id: other.id,
                };
            }
        }
        _ => {
            if let Some(username) = &changes.username
                && let Some(other) = others().find(|u| norm(&u.username) == norm(username))
            {
                return BlockReason::UsernameUsedByAnotherUser {
                    username: norm(username),
                    moodle_user_id: other.id,
                };
            }
        }
    }
    BlockReason::RefusedByMoodle {
        message: format!("{message} ({warningcode}); the Moodle user was left unchanged"),
    }
}

/// The username learnbridge gives a new Moodle user (see the module docs for why).
pub fn username_for(learner: &Learner, settings: &MoodleSettings) -> String {
    match settings.match_order {
        MatchOrder::UsernameIdnumberEmail => norm(learner.code.as_str()),
        MatchOrder::LearnerCodeThenFields => learner
            .username
            .as_deref()
            .filter(|u| !u.trim().is_empty())
            .or(learner.email.as_deref().filter(|e| !e.trim().is_empty()))
            .map_or_else(|| norm(learner.code.as_str()), norm),
    }
}

/// Whether the rules need a look-up by a field that `core_user_get_users_by_field`
/// cannot do in bulk (names only): then each learner is searched on its own.
pub fn needs_name_search(settings: &MoodleSettings) -> bool {
    settings.match_order == MatchOrder::LearnerCodeThenFields
        && !settings.match_fields.is_empty()
        && !settings
            .match_fields
            .iter()
            .any(|f| matches!(f, MatchField::Username | MatchField::Email))
}

/// The bulk look-ups a push makes for learners without a stored account, in the
/// order they are made. Email is always looked up: no account is created over
/// another user's email.
pub fn lookup_fields(settings: &MoodleSettings) -> Vec<UserLookup> {
    let mut fields = Vec::new();
    match settings.match_order {
        MatchOrder::UsernameIdnumberEmail => {
            fields.push(UserLookup::Username);
            fields.push(UserLookup::Idnumber);
        }
        MatchOrder::LearnerCodeThenFields => {
            if settings.match_learner_code_to_idnumber {
                fields.push(UserLookup::Idnumber);
            }
            if settings.match_fields.contains(&MatchField::Username) {
                fields.push(UserLookup::Username);
            }
        }
    }
    fields.push(UserLookup::Email);
    fields
}

/// Whether the learner's email must be looked up, given the users the other
/// look-ups found: only when, without it, the learner would be created (an
/// email holder then links or blocks; a learner already matched, or blocked,
/// is decided whoever holds the email). [`lookup_fields`] puts email last.
pub fn needs_email_lookup(learner: &Learner, settings: &MoodleSettings, found: &[LmsUser]) -> bool {
    decide(learner, settings, None, found) == MatchDecision::Create
}

/// The value a learner is looked up by, if they have one.
pub fn lookup_value(
    learner: &Learner,
    field: UserLookup,
    settings: &MoodleSettings,
) -> Option<String> {
    match field {
        UserLookup::Id => None,
        UserLookup::Idnumber => Some(learner.code.as_str().to_owned()),
        UserLookup::Username => match settings.match_order {
            MatchOrder::UsernameIdnumberEmail => Some(norm(learner.code.as_str())),
            MatchOrder::LearnerCodeThenFields => learner
                .username
                .as_deref()
                .map(norm)
                .filter(|u| !u.is_empty()),
        },
        UserLookup::Email => learner
            .email
            .as_deref()
            .map(str::trim)
            .filter(|e| crate::transfer::valid_email(e))
            .map(str::to_owned),
    }
}

fn field_matches(field: MatchField, learner: &Learner, user: &LmsUser) -> bool {
    match field {
        MatchField::Username => learner
            .username
            .as_deref()
            .is_some_and(|u| !u.trim().is_empty() && norm(u) == norm(&user.username)),
        MatchField::Email => learner
            .email
            .as_deref()
            .is_some_and(|e| !e.trim().is_empty() && norm(e) == norm(&user.email)),
        MatchField::Firstname => {
            !learner.given_name.trim().is_empty()
                && norm(&learner.given_name) == norm(&user.firstname)
        }
        MatchField::Lastname => {
            !learner.family_name.trim().is_empty()
                && norm(&learner.family_name) == norm(&user.lastname)
        }
    }
}

/// One match, or ambiguity, or none.
fn one_of(users: Vec<&LmsUser>, by: MatchedBy) -> Option<MatchDecision> {
    match users.as_slice() {
        [] => None,
        [user] => Some(MatchDecision::Existing {
            user_id: user.id,
            by,
        }),
        many => {
            let mut ids: Vec<i64> = many.iter().map(|u| u.id).collect();
            ids.sort_unstable();
            ids.dedup();
            if let [id] = ids.as_slice() {
                return Some(MatchDecision::Existing { user_id: *id, by });
            }
            Some(MatchDecision::Blocked(BlockReason::AmbiguousMatch {
                moodle_user_ids: ids,
            }))
        }
    }
}

/// Decides how a learner meets Moodle. `found` holds every user the look-ups
/// returned (for the whole batch: this function picks the learner's own).
pub fn decide(
    learner: &Learner,
    settings: &MoodleSettings,
    stored: Option<i64>,
    found: &[LmsUser],
) -> MatchDecision {
    if let Some(id) = stored {
        return if found.iter().any(|u| u.id == id) {
            MatchDecision::Existing {
                user_id: id,
                by: MatchedBy::StoredAccount,
            }
        } else {
            MatchDecision::Blocked(BlockReason::StoredUserMissing { moodle_user_id: id })
        };
    }
    let code = learner.code.as_str();
    let email = lookup_value(learner, UserLookup::Email, settings).map(|e| norm(&e));
    let by_idnumber = || {
        found
            .iter()
            .filter(|u| u.idnumber.trim() == code)
            .collect::<Vec<_>>()
    };
    let by_email = || {
        found
            .iter()
            .filter(|u| email.as_deref().is_some_and(|e| same_email(&u.email, e)))
            .collect::<Vec<_>>()
    };
    match settings.match_order {
        MatchOrder::UsernameIdnumberEmail => {
            let username = norm(code);
            let by_username: Vec<&LmsUser> = found
                .iter()
                .filter(|u| norm(&u.username) == username)
                .collect();
            if let Some(d) = one_of(by_username, MatchedBy::Username) {
                return d;
            }
            if let Some(d) = one_of(by_idnumber(), MatchedBy::Idnumber) {
                return d;
            }
            if let Some(d) = one_of(by_email(), MatchedBy::Email) {
                return d;
            }
        }
        MatchOrder::LearnerCodeThenFields => {
            if settings.match_learner_code_to_idnumber
                && let Some(d) = one_of(by_idnumber(), MatchedBy::Idnumber)
            {
                return d;
            }
            if !settings.match_fields.is_empty() {
                let all: Vec<&LmsUser> = found
                    .iter()
                    .filter(|u| {
                        settings
                            .match_fields
                            .iter()
                            .all(|f| field_matches(*f, learner, u))
                    })
                    .collect();
                if let Some(d) = one_of(all, MatchedBy::Fields) {
                    return d;
                }
            }
        }
    }
    // No rule matched: creating is safe only if no one holds the username or email.
    let username = username_for(learner, settings);
    if let Some(ours) = found
        .iter()
        .find(|u| norm(&u.username) == username && u.idnumber.trim() == code)
    {
        return MatchDecision::Existing {
            user_id: ours.id,
            by: MatchedBy::EarlierAttempt,
        };
    }
    if let Some(other) = found.iter().find(|u| norm(&u.username) == username) {
        return MatchDecision::Blocked(BlockReason::UsernameUsedByAnotherUser {
            username,
            moodle_user_id: other.id,
        });
    }
    if let Some(other) = by_email().first() {
        return MatchDecision::Blocked(BlockReason::EmailUsedByAnotherUser {
            moodle_user_id: other.id,
        });
    }
    MatchDecision::Create
}

/// How a new user signs in, per the connection; `generated` is the password
/// learnbridge generated (used only with [`crate::connection::NewUserAuth::GeneratedPassword`]).
pub fn new_user_password(
    settings: &MoodleSettings,
    generated: impl FnOnce() -> secrecy::SecretString,
) -> NewUserPassword {
    match &settings.new_user_auth {
        crate::connection::NewUserAuth::MoodleCreatesPassword => NewUserPassword::MoodleCreates,
        crate::connection::NewUserAuth::GeneratedPassword => {
            NewUserPassword::Generated(generated())
        }
        crate::connection::NewUserAuth::Plugin { auth } => NewUserPassword::Plugin(auth.clone()),
    }
}

/// The user learnbridge creates for a learner: idnumber = code, username (see
/// [`username_for`]), names, email. `suspended` is not sent: archived learners are
/// blocked before they are created.
pub fn new_user(
    learner: &Learner,
    settings: &MoodleSettings,
    password: NewUserPassword,
) -> NewLmsUser {
    NewLmsUser {
        username: username_for(learner, settings),
        idnumber: learner.code.as_str().to_owned(),
        firstname: learner.given_name.trim().to_owned(),
        middlename: learner
            .middle_name
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
        lastname: learner.family_name.trim().to_owned(),
        email: learner
            .email
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        password,
    }
}

/// The fields that differ between the learner and their Moodle user: the update
/// that brings Moodle in step (VETtrak's field table: idnumber, username,
/// firstname, middlename, lastname, email, suspended = archived).
///
/// The username is synced only when it is the SMS's (the learner has one) or
/// learnbridge chose it (`created_by_us`): a matched user keeps the login they know.
/// An empty or invalid email is never sent (Moodle requires a valid one).
pub fn user_changes(
    learner: &Learner,
    settings: &MoodleSettings,
    current: &LmsUser,
    created_by_us: bool,
) -> UserChanges {
    let mut changes = UserChanges {
        id: current.id,
        ..UserChanges::default()
    };
    let code = learner.code.as_str();
    if current.idnumber != code {
        changes.idnumber = Some(code.to_owned());
    }
    let sms_username = learner
        .username
        .as_deref()
        .is_some_and(|u| !u.trim().is_empty());
    if sms_username || created_by_us {
        let wanted = username_for(learner, settings);
        if wanted != current.username {
            changes.username = Some(wanted);
        }
    }
    let set = |wanted: &str, have: &str| (wanted != have).then(|| wanted.to_owned());
    if !learner.given_name.trim().is_empty() {
        changes.firstname = set(learner.given_name.trim(), &current.firstname);
    }
    changes.middlename = set(
        learner.middle_name.as_deref().unwrap_or_default().trim(),
        &current.middlename,
    );
    if !learner.family_name.trim().is_empty() {
        changes.lastname = set(learner.family_name.trim(), &current.lastname);
    }
    if let Some(email) = lookup_value(learner, UserLookup::Email, settings)
        && norm(&email) != norm(&current.email)
    {
        changes.email = Some(email);
    }
    if learner.archived != current.suspended {
        changes.suspended = Some(learner.archived);
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::NewUserAuth;
    use crate::ids::{LearnerCode, TenantId};
    use chrono::{DateTime, Utc};

    fn ana() -> Learner {
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

    fn user(id: i64, username: &str, idnumber: &str, email: &str) -> LmsUser {
        LmsUser {
            id,
            username: username.into(),
            idnumber: idnumber.into(),
            email: email.into(),
            firstname: "Ana".into(),
            middlename: String::new(),
            lastname: "Ruiz".into(),
            suspended: false,
        }
    }

    fn vettrak() -> MoodleSettings {
        MoodleSettings::default()
    }

    fn smartosh() -> MoodleSettings {
        MoodleSettings {
            match_order: MatchOrder::UsernameIdnumberEmail,
            new_user_auth: NewUserAuth::GeneratedPassword,
            ..MoodleSettings::default()
        }
    }

    fn existing(user_id: i64, by: MatchedBy) -> MatchDecision {
        MatchDecision::Existing { user_id, by }
    }

    #[test]
    fn matching_table() {
        let fields = |f: Vec<MatchField>| MoodleSettings {
            match_fields: f,
            ..vettrak()
        };
        let no_code = MoodleSettings {
            match_learner_code_to_idnumber: false,
            ..vettrak()
        };
        let mut with_username = ana();
        with_username.username = Some("ARuiz".into());
        type Case = (
            &'static str,
            Learner,
            MoodleSettings,
            Option<i64>,
            Vec<LmsUser>,
            MatchDecision,
        );
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("stored account wins over an idnumber match", ana(), vettrak(), Some(9),
                vec![user(9, "x", "", "x@e.com"), user(4, "ana", "X1234567", "a@e.com")], existing(9, MatchedBy::StoredAccount)),
            ("stored account that no longer exists blocks", ana(), vettrak(), Some(9),
                vec![user(4, "ana", "X1234567", "a@e.com")], MatchDecision::Blocked(BlockReason::StoredUserMissing { moodle_user_id: 9 })),
            ("learner code = idnumber", ana(), vettrak(), None,
                vec![user(4, "whatever", "X1234567", "other@e.com")], existing(4, MatchedBy::Idnumber)),
            ("idnumber is not unique: two matches block", ana(), vettrak(), None,
                vec![user(4, "a", "X1234567", "a@e.com"), user(7, "b", "X1234567", "b@e.com")],
                MatchDecision::Blocked(BlockReason::AmbiguousMatch { moodle_user_ids: vec![4, 7] })),
            ("idnumber matching switched off: an email collision blocks", ana(), no_code.clone(), None,
                vec![user(4, "a", "X1234567", "ANA.RUIZ@example.com")],
                MatchDecision::Blocked(BlockReason::EmailUsedByAnotherUser { moodle_user_id: 4 })),
            ("no match: create", ana(), vettrak(), None, vec![], MatchDecision::Create),
            ("email collision without an email rule blocks", ana(), vettrak(), None,
                vec![user(5, "someone", "", "ana.ruiz@example.com")],
                MatchDecision::Blocked(BlockReason::EmailUsedByAnotherUser { moodle_user_id: 5 })),
            ("email rule links the user with the email", ana(), fields(vec![MatchField::Email]), None,
                vec![user(5, "someone", "", "Ana.Ruiz@example.com")], existing(5, MatchedBy::Fields)),
            ("rules are AND-ed: email matches, first name does not: blocked, no duplicate", ana(),
                fields(vec![MatchField::Email, MatchField::Firstname]), None,
                vec![LmsUser { firstname: "Eva".into(), ..user(5, "someone", "", "ana.ruiz@example.com") }],
                MatchDecision::Blocked(BlockReason::EmailUsedByAnotherUser { moodle_user_id: 5 })),
            ("rules are AND-ed: email and first name match", ana(),
                fields(vec![MatchField::Email, MatchField::Firstname]), None,
                vec![user(5, "someone", "", "ana.ruiz@example.com")], existing(5, MatchedBy::Fields)),
            ("username rule", with_username.clone(), fields(vec![MatchField::Username]), None,
                vec![user(8, "aruiz", "", "x@e.com")], existing(8, MatchedBy::Fields)),
            ("the username we would create is someone else's", with_username.clone(), vettrak(), None,
                vec![user(8, "aruiz", "Z9", "x@e.com")],
                MatchDecision::Blocked(BlockReason::UsernameUsedByAnotherUser { username: "aruiz".into(), moodle_user_id: 8 })),
            ("the user an earlier attempt created is linked, not duplicated", ana(), no_code, None,
                vec![user(11, "ana.ruiz@example.com", "X1234567", "ana.ruiz@example.com")], existing(11, MatchedBy::EarlierAttempt)),
            ("smartosh: identifier = username first", ana(), smartosh(), None,
                vec![user(3, "x1234567", "", "z@e.com"), user(4, "b", "X1234567", "b@e.com")], existing(3, MatchedBy::Username)),
            ("smartosh: then identifier = idnumber", ana(), smartosh(), None,
                vec![user(4, "b", "X1234567", "b@e.com"), user(5, "c", "", "ana.ruiz@example.com")], existing(4, MatchedBy::Idnumber)),
            ("smartosh: then email links", ana(), smartosh(), None,
                vec![user(5, "c", "", "ana.ruiz@example.com")], existing(5, MatchedBy::Email)),
            ("smartosh: two users with the email are ambiguous", ana(), smartosh(), None,
                vec![user(5, "c", "", "ana.ruiz@example.com"), user(6, "d", "", "ana.ruiz@example.com")],
                MatchDecision::Blocked(BlockReason::AmbiguousMatch { moodle_user_ids: vec![5, 6] })),
            ("smartosh: no match creates", ana(), smartosh(), None, vec![user(5, "c", "Q", "c@e.com")], MatchDecision::Create),
        ];
        for (name, learner, settings, stored, found, want) in cases {
            assert_eq!(decide(&learner, &settings, stored, &found), want, "{name}");
        }
    }

    #[test]
    fn emails_are_one_whatever_their_letter_case_and_wildcards_match_nothing() {
        assert!(same_email("TAKEN@Example.com", "taken@example.com"));
        assert!(same_email(" taken@example.com ", "taken@example.com"));
        assert!(!same_email("taken_example_com", "taken@example.com"));
        assert!(!same_email("taken%", "taken@example.com"));
        assert!(!same_email("", ""));
        // A user holding the email in another case blocks the create.
        let holder = user(6, "taken", "", "taken@example.com");
        let mut l = ana();
        l.email = Some("TAKEN@Example.com".into());
        assert_eq!(
            decide(&l, &vettrak(), None, std::slice::from_ref(&holder)),
            MatchDecision::Blocked(BlockReason::EmailUsedByAnotherUser { moodle_user_id: 6 })
        );
    }

    #[test]
    fn a_refused_create_is_explained_by_who_holds_the_username_or_email() {
        let found = [
            user(6, "taken", "", "Taken@example.com"),
            user(7, "ana.ruiz", "", "x@example.com"),
        ];
        assert_eq!(
            refused_create("ana.ruiz", "ana@example.com", &found),
            BlockReason::UsernameUsedByAnotherUser {
                username: "ana.ruiz".into(),
                moodle_user_id: 7
            }
        );
        assert_eq!(
            refused_create("new", "taken@example.com", &found),
            BlockReason::EmailUsedByAnotherUser { moodle_user_id: 6 }
        );
        let plain = refused_create("new", "new@example.com", &found);
        assert_eq!(
            plain,
            BlockReason::CreateRefusedWithoutReason {
                username: "new".into()
            }
        );
        assert!(plain.message().contains("gave no reason"));
    }

    #[test]
    fn a_refused_update_names_the_holder_or_keeps_moodles_words() {
        let found = [
            user(4, "ana", "X1", "ana@example.com"),
            user(6, "taken", "", "TAKEN@example.com"),
        ];
        let email = UserChanges {
            id: 4,
            email: Some("taken@example.com".into()),
            ..UserChanges::default()
        };
        assert_eq!(
            refused_update(
                &email,
                "useremailduplicate",
                "Duplicate email address",
                &found
            ),
            BlockReason::EmailUsedByAnotherUser { moodle_user_id: 6 }
        );
        let username = UserChanges {
            id: 4,
            username: Some("taken".into()),
            ..UserChanges::default()
        };
        assert_eq!(
            refused_update(
                &username,
                "dmlwriteexception",
                "Error writing to database",
                &found
            ),
            BlockReason::UsernameUsedByAnotherUser {
                username: "taken".into(),
                moodle_user_id: 6
            }
        );
        assert_eq!(
            refused_update(&username, "invaliduserid", "Invalid user id", &[]),
            BlockReason::StoredUserMissing { moodle_user_id: 4 }
        );
        let other = refused_update(&email, "useremailduplicate", "Duplicate email address", &[]);
        assert!(
            other
                .message()
                .contains("Duplicate email address (useremailduplicate)"),
            "{other:?}"
        );
    }

    #[test]
    fn usernames_follow_the_order_and_are_lower_case() {
        let mut l = ana();
        assert_eq!(username_for(&l, &vettrak()), "ana.ruiz@example.com");
        assert_eq!(username_for(&l, &smartosh()), "x1234567");
        l.username = Some(" ARuiz ".into());
        assert_eq!(username_for(&l, &vettrak()), "aruiz");
        l.username = None;
        l.email = None;
        assert_eq!(username_for(&l, &vettrak()), "x1234567");
    }

    #[test]
    fn lookups_per_settings() {
        use UserLookup::*;
        assert_eq!(lookup_fields(&vettrak()), vec![Idnumber, Email]);
        assert_eq!(lookup_fields(&smartosh()), vec![Username, Idnumber, Email]);
        let rules = MoodleSettings {
            match_learner_code_to_idnumber: false,
            match_fields: vec![MatchField::Username, MatchField::Email],
            ..vettrak()
        };
        assert_eq!(lookup_fields(&rules), vec![Username, Email]);
        assert!(!needs_name_search(&rules));
        let names = MoodleSettings {
            match_fields: vec![MatchField::Firstname, MatchField::Lastname],
            ..vettrak()
        };
        assert!(needs_name_search(&names));
        let mut l = ana();
        l.email = Some("not-an-email".into());
        assert_eq!(lookup_value(&l, Email, &vettrak()), None);
        assert_eq!(
            lookup_value(&l, Idnumber, &vettrak()).as_deref(),
            Some("X1234567")
        );
    }

    #[test]
    fn new_users_carry_the_fields_and_the_auth_setting() {
        let u = new_user(&ana(), &smartosh(), NewUserPassword::MoodleCreates);
        assert_eq!(
            (
                u.username.as_str(),
                u.idnumber.as_str(),
                u.firstname.as_str(),
                u.lastname.as_str(),
                u.email.as_str()
            ),
            (
                "x1234567",
                "X1234567",
                "Ana",
                "Ruiz",
                "ana.ruiz@example.com"
            )
        );
        let pw = || secrecy::SecretString::from("Gen3rated!pw");
        assert!(matches!(
            new_user_password(&vettrak(), pw),
            NewUserPassword::MoodleCreates
        ));
        assert!(matches!(
            new_user_password(&smartosh(), pw),
            NewUserPassword::Generated(_)
        ));
        let plugin = MoodleSettings {
            new_user_auth: NewUserAuth::Plugin {
                auth: "vettrak".into(),
            },
            ..vettrak()
        };
        assert!(
            matches!(new_user_password(&plugin, pw), NewUserPassword::Plugin(a) if a == "vettrak")
        );
    }

    #[test]
    fn changed_fields_trigger_an_update() {
        let current = LmsUser {
            id: 4,
            username: "ana.ruiz@example.com".into(),
            idnumber: "X1234567".into(),
            email: "ana.ruiz@example.com".into(),
            firstname: "Ana".into(),
            middlename: String::new(),
            lastname: "Ruiz".into(),
            suspended: false,
        };
        assert!(
            user_changes(&ana(), &vettrak(), &current, true).is_empty(),
            "in step: nothing sent"
        );

        let mut edited = ana();
        edited.family_name = "Ruiz García".into();
        edited.middle_name = Some("María".into());
        edited.archived = true;
        let c = user_changes(&edited, &vettrak(), &current, false);
        assert_eq!(c.lastname.as_deref(), Some("Ruiz García"));
        assert_eq!(c.middlename.as_deref(), Some("María"));
        assert_eq!(c.suspended, Some(true));
        assert_eq!(c.field_names(), ["middlename", "lastname", "suspended"]);

        let mut moved = ana();
        moved.email = Some("ana@new.example.com".into());
        let c = user_changes(&moved, &vettrak(), &current, true);
        assert_eq!(c.email.as_deref(), Some("ana@new.example.com"));
        assert_eq!(
            c.username.as_deref(),
            Some("ana@new.example.com"),
            "our username follows the email"
        );
        let c = user_changes(&moved, &vettrak(), &current, false);
        assert_eq!(c.username, None, "a matched user keeps their login");

        let mut sms = ana();
        sms.username = Some("ARuiz".into());
        sms.code = LearnerCode::parse("X7654321").unwrap();
        let c = user_changes(&sms, &vettrak(), &current, false);
        assert_eq!(
            c.username.as_deref(),
            Some("aruiz"),
            "the SMS username is synced"
        );
        assert_eq!(c.idnumber.as_deref(), Some("X7654321"));

        let mut no_email = ana();
        no_email.email = None;
        assert_eq!(
            user_changes(&no_email, &vettrak(), &current, false).email,
            None
        );

        let suspended = LmsUser {
            suspended: true,
            ..current
        };
        assert_eq!(
            user_changes(&ana(), &vettrak(), &suspended, false).suspended,
            Some(false),
            "un-archiving lifts it"
        );
    }
}
