//! Who of a push's learners Moodle has already: the look-ups, by stored
//! account and by the connection's match fields.

use crate::errors::error_text;
use domain::LearnerCode;
use domain::connection::MoodleSettings;
use domain::learning::{LearningError, LmsUser, UserLookup};
use domain::matching;
use domain::ports::{LearningSystem, Retryable};
use domain::sis::{ExternalAccount, Learner};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// What the look-ups of a push found, and the learners whose own search could
/// not be made.
pub(super) struct LookedUp {
    pub(super) found: Vec<LmsUser>,
    /// Learners whose search (by name, or by email: one call per learner)
    /// stayed unavailable through every try, with why. Nothing is decided for
    /// them in this push: they stay as they were (ready) for the next run,
    /// while the others go on.
    pub(super) unavailable: Vec<(LearnerCode, LearningError)>,
}

/// Values to look up, per field, for the given learners.
///
/// The bulk look-ups (by id, by idnumber or username, 100 values a call)
/// fail the push when they stay unavailable: a retry repeats few calls. A
/// search made for one learner (by name, by email) that stays unavailable
/// leaves only that learner out ([`LookedUp::unavailable`]): among a
/// thousand such searches a few fail every try under a flaky site, and
/// failing the whole push for one would start it all over.
pub(super) async fn look_up(
    lms: &dyn LearningSystem,
    settings: &MoodleSettings,
    learners: &[&Learner],
    accounts: &HashMap<LearnerCode, ExternalAccount>,
) -> Result<LookedUp, LearningError> {
    let mut found = Vec::new();
    let mut unavailable: Vec<(LearnerCode, LearningError)> = Vec::new();
    let stored: Vec<String> = learners
        .iter()
        .filter_map(|l| accounts.get(&l.code))
        .map(|a| a.external_id.to_string())
        .collect();
    if !stored.is_empty() {
        found.extend(lms.users_by(UserLookup::Id, &stored).await?);
    }
    let mut unlinked: Vec<&Learner> = learners
        .iter()
        .copied()
        .filter(|l| !accounts.contains_key(&l.code))
        .collect();
    if unlinked.is_empty() {
        return Ok(LookedUp { found, unavailable });
    }
    // Side by side: the connection's permits (`max_concurrency`) bound the
    // calls in flight, as for every other call.
    if matching::needs_name_search(settings) {
        let named = futures::future::join_all(
            unlinked
                .iter()
                .map(|l| lms.users_named(l.given_name.trim(), l.family_name.trim())),
        )
        .await;
        for (l, answer) in unlinked.iter().zip(named) {
            match answer {
                Ok(users) => found.extend(users),
                Err(e) if e.is_retryable() => unavailable.push((l.code.clone(), e)),
                Err(e) => return Err(e),
            }
        }
        unlinked.retain(|l| !unavailable.iter().any(|(code, _)| *code == l.code));
    }
    let fields = matching::lookup_fields(settings);
    let values = |field: UserLookup| -> Vec<String> {
        unlinked
            .iter()
            .filter_map(|l| matching::lookup_value(l, field, settings))
            .collect()
    };
    // The fields before email at once; email last, one search per address
    // (Moodle's search by email ignores case, its exact look-up does not),
    // and only for the learners the other look-ups left to be created.
    let before: Vec<(UserLookup, Vec<String>)> = fields
        .iter()
        .filter(|f| **f != UserLookup::Email)
        .map(|f| (*f, values(*f)))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    let answers =
        futures::future::try_join_all(before.iter().map(|(f, v)| lms.users_by(*f, v))).await?;
    found.extend(answers.into_iter().flatten());
    if fields.contains(&UserLookup::Email) {
        // One call per address (as the adapter makes them), so that one
        // address Moodle cannot be asked about holds back only its learners.
        // Keyed as Moodle compares emails ([`matching::same_email`]).
        let mut by_address: BTreeMap<String, (String, Vec<LearnerCode>)> = BTreeMap::new();
        for l in unlinked
            .iter()
            .filter(|l| matching::needs_email_lookup(l, settings, &found))
        {
            if let Some(email) = matching::lookup_value(l, UserLookup::Email, settings) {
                by_address
                    .entry(email.trim().to_lowercase())
                    .or_insert_with(|| (email, Vec::new()))
                    .1
                    .push(l.code.clone());
            }
        }
        let answers = futures::future::join_all(
            by_address
                .values()
                .map(|(email, _)| lms.users_by(UserLookup::Email, std::slice::from_ref(email))),
        )
        .await;
        for ((_, codes), answer) in by_address.into_values().zip(answers) {
            match answer {
                Ok(users) => found.extend(users),
                Err(e) if e.is_retryable() => {
                    let reason = error_text(&e);
                    for code in codes {
                        unavailable.push((code, LearningError::Unavailable(reason.clone().into())));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
    // The usernames the learners still to be created would get, at once (one
    // call for the batch), unless a look-up by username already asked for
    // them: a username another Moodle user holds then blocks its learner,
    // naming that user, where Moodle would refuse the create without a
    // reason (`invalidparameter`, its cause only in a debug site's
    // debuginfo), and the preview shows it before any push. Only usernames
    // every site takes as they are: Moodle refuses the whole call over one
    // it would clean (the create then says what it says of that one).
    let asked: BTreeSet<String> = before
        .iter()
        .filter(|(f, _)| *f == UserLookup::Username)
        .flat_map(|(_, values)| values.iter().cloned())
        .collect();
    let usernames: BTreeSet<String> = unlinked
        .iter()
        .filter(|l| !unavailable.iter().any(|(code, _)| *code == l.code))
        .filter(|l| matching::would_create(l, settings, &found))
        .map(|l| matching::username_for(l, settings))
        .filter(|u| matching::username_kept_as_is(u) && !asked.contains(u))
        .collect();
    if !usernames.is_empty() {
        let usernames: Vec<String> = usernames.into_iter().collect();
        match lms.users_by(UserLookup::Username, &usernames).await {
            Ok(users) => found.extend(users),
            Err(e) if e.is_retryable() => return Err(e),
            // A refusal of this look-up leaves the creates as they were
            // before it was made: Moodle decides, and says why, per record.
            Err(e) => tracing::warn!(
                error = &e as &dyn std::error::Error,
                "the usernames of the users to create could not be looked up"
            ),
        }
    }
    Ok(LookedUp { found, unavailable })
}
