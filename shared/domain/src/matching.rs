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
    would_create(learner, settings, found)
}

/// Whether every Moodle site takes `username` as it is in a look-up: lower case
/// and only `[-.@_a-z0-9]`, the characters a site keeps whether or not it
/// allows extended ones (Moodle refuses a whole `core_user_get_users_by_field`
/// call over one value it would clean).
pub fn username_kept_as_is(username: &str) -> bool {
    !username.is_empty()
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-@".contains(c))
}

/// Whether, given the users the look-ups found, the learner would be created
/// (no rule matched anyone, and nobody found holds their username or email).
pub fn would_create(learner: &Learner, settings: &MoodleSettings, found: &[LmsUser]) -> bool {
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
mod tests;
