//! What people read: the run log lines of an export (Smartosh's wording) and the
//! learner emails ("User registration in Moodle", "Enrolment in Moodle").
//!
//! Log lines carry the learner's name and code, as the seed shows, and never a
//! secret. A password appears only in a registration email, and only when the
//! connection generates passwords.

use crate::email::Email;
use crate::sis::{BlockReason, Learner};
use secrecy::{ExposeSecret, SecretString};

/// "User Ana Ruiz (X1234567)".
fn who(learner: &Learner) -> String {
    format!("User {} ({})", learner.display_name(), learner.code)
}

/// "User Ana Ruiz (X1234567) - registered in the system": a Moodle user was created.
pub fn registered(learner: &Learner) -> String {
    format!("{} - registered in the system", who(learner))
}

/// "User Ana Ruiz (X1234567) - enrolment in the Moodle course": enrolled now.
pub fn enrolled(learner: &Learner) -> String {
    format!("{} - enrolment in the Moodle course", who(learner))
}

/// "User Ana Ruiz (X1234567) - called": the enrolment is in progress.
pub fn called(learner: &Learner) -> String {
    format!("{} - called", who(learner))
}

/// "User Ana Ruiz (X1234567) - linked to Moodle user 4": an existing user was matched.
pub fn linked(learner: &Learner, moodle_user_id: i64) -> String {
    format!("{} - linked to Moodle user {moodle_user_id}", who(learner))
}

/// "Moodle user jdoe (id 42) is enrolled in course 7 but unknown to the SMS"
/// (an exclusive-tenant alert: a warning on the run).
pub fn unknown_participant(username: &str, moodle_user_id: i64, course_id: i64) -> String {
    format!(
        "Moodle user {username} (id {moodle_user_id}) is enrolled in course {course_id} but unknown to the SMS"
    )
}

/// "User Ana Ruiz (X1234567) - not transferred: <reasons>" (a warning).
pub fn blocked(learner_name: &str, code: &str, reasons: &[BlockReason]) -> String {
    let reasons: Vec<String> = reasons.iter().map(BlockReason::message).collect();
    format!(
        "User {learner_name} ({code}) - not transferred: {}",
        reasons.join("; ")
    )
}

/// "User Ana Ruiz (X1234567) - removed from the Moodle course (unenrolled|suspended)".
pub fn removed(learner: &Learner, suspended: bool) -> String {
    let how = if suspended { "suspended" } else { "unenrolled" };
    format!("{} - removed from the Moodle course ({how})", who(learner))
}

/// Template subject of the email to a learner learnbridge registered in Moodle.
pub const REGISTRATION_SUBJECT: &str = "User registration in Moodle";
/// Template subject of the email to an existing Moodle user enrolled in a new course.
pub const ENROLMENT_SUBJECT: &str = "Enrolment in Moodle";

/// Where the learner signs in and what they were enrolled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseInvite<'a> {
    pub site_url: &'a str,
    pub course_name: &'a str,
}

fn recipient(learner: &Learner) -> Option<String> {
    if learner.email_opt_out {
        return None;
    }
    learner
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| crate::transfer::valid_email(e))
        .map(str::to_owned)
}

/// "User registration in Moodle": the username, and the password only when
/// learnbridge generated it (otherwise Moodle mails its own, or the plugin signs
/// the learner in). None for a learner who opted out of emails.
pub fn registration_email(
    learner: &Learner,
    username: &str,
    generated_password: Option<&SecretString>,
    invite: &CourseInvite<'_>,
) -> Option<Email> {
    let to = recipient(learner)?;
    let password = match generated_password {
        Some(p) => format!(
            "Password: {}\nYou will be asked to choose a new password when you first sign in.\n",
            p.expose_secret()
        ),
        None => "Your password is sent separately by Moodle, or you sign in as you do in your student portal.\n".to_owned(),
    };
    Some(Email {
        to,
        subject: REGISTRATION_SUBJECT.to_owned(),
        body: format!(
            "Hello {},\n\nYou have been registered in Moodle for {}.\n\nSign in at: {}\nUsername: {username}\n{password}\n",
            learner.given_name.trim(),
            invite.course_name,
            invite.site_url
        ),
    })
}

/// "Enrolment in Moodle": an existing Moodle user enrolled in a new course.
/// None for a learner who opted out of emails.
pub fn enrolment_email(learner: &Learner, invite: &CourseInvite<'_>) -> Option<Email> {
    let to = recipient(learner)?;
    Some(Email {
        to,
        subject: ENROLMENT_SUBJECT.to_owned(),
        body: format!(
            "Hello {},\n\nYou have been enrolled in {} in Moodle.\n\nSign in at: {} with your usual Moodle account.\n",
            learner.given_name.trim(),
            invite.course_name,
            invite.site_url
        ),
    })
}

const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"*-#!%+=";

/// A password that passes Moodle's default policy (at least 8 characters, a digit,
/// a lower-case and an upper-case letter, a special character), made from 16
/// random bytes the caller supplies (the domain has no randomness of its own).
pub fn generated_password(entropy: [u8; 16]) -> SecretString {
    let pick = |set: &[u8], b: u8| char::from(set[usize::from(b) % set.len()]);
    let mut out = String::with_capacity(16);
    for (i, b) in entropy.iter().enumerate() {
        let set = match i {
            0 => UPPER,
            1 => DIGITS,
            2 => SYMBOLS,
            3 => LOWER,
            _ => match b % 4 {
                0 => UPPER,
                1 => DIGITS,
                _ => LOWER,
            },
        };
        out.push(pick(set, b / 4));
    }
    SecretString::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{LearnerCode, TenantId};
    use chrono::{DateTime, Utc};

    fn ana() -> Learner {
        Learner {
            tenant: TenantId::parse("acme").unwrap(),
            code: LearnerCode::parse("X1234567").unwrap(),
            username: None,
            given_name: "Ana".into(),
            middle_name: Some("María".into()),
            family_name: "Ruiz".into(),
            email: Some("ana.ruiz@example.com".into()),
            date_of_birth: None,
            archived: false,
            email_opt_out: false,
            updated_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn log_lines_are_smartosh_words() {
        let l = ana();
        assert_eq!(
            registered(&l),
            "User Ana Ruiz (X1234567) - registered in the system"
        );
        assert_eq!(
            enrolled(&l),
            "User Ana Ruiz (X1234567) - enrolment in the Moodle course"
        );
        assert_eq!(called(&l), "User Ana Ruiz (X1234567) - called");
        assert_eq!(
            linked(&l, 4),
            "User Ana Ruiz (X1234567) - linked to Moodle user 4"
        );
        assert_eq!(
            blocked(
                "Ana Ruiz",
                "X1234567",
                &[BlockReason::MissingEmail, BlockReason::LearnerArchived]
            ),
            "User Ana Ruiz (X1234567) - not transferred: the learner has no email address; Moodle requires one; the learner is archived in the SMS"
        );
        assert_eq!(
            removed(&l, true),
            "User Ana Ruiz (X1234567) - removed from the Moodle course (suspended)"
        );
    }

    #[test]
    fn emails_follow_the_templates_and_the_opt_out() {
        let invite = CourseInvite {
            site_url: "https://lms.example.edu",
            course_name: "First aid",
        };
        let pw = SecretString::from("Gen3rated-pw");
        let with_pw = registration_email(&ana(), "x1234567", Some(&pw), &invite).unwrap();
        assert_eq!(with_pw.subject, "User registration in Moodle");
        assert_eq!(with_pw.to, "ana.ruiz@example.com");
        assert!(with_pw.body.contains("Username: x1234567"));
        assert!(with_pw.body.contains("Password: Gen3rated-pw"));
        let without = registration_email(&ana(), "x1234567", None, &invite).unwrap();
        assert!(
            !without.body.contains("Password:"),
            "no password unless generated"
        );
        let enrol = enrolment_email(&ana(), &invite).unwrap();
        assert_eq!(enrol.subject, "Enrolment in Moodle");
        assert!(enrol.body.contains("First aid"));

        let mut opted_out = ana();
        opted_out.email_opt_out = true;
        assert_eq!(
            registration_email(&opted_out, "x", Some(&pw), &invite),
            None
        );
        assert_eq!(enrolment_email(&opted_out, &invite), None);
        let mut no_email = ana();
        no_email.email = None;
        assert_eq!(enrolment_email(&no_email, &invite), None);
    }

    #[test]
    fn generated_passwords_pass_moodles_policy() {
        for seed in 0u8..=255 {
            let bytes: [u8; 16] =
                std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 17));
            let p = generated_password(bytes);
            let p = p.expose_secret();
            assert!(p.chars().count() >= 8);
            assert!(p.chars().any(|c| c.is_ascii_digit()));
            assert!(p.chars().any(|c| c.is_ascii_lowercase()));
            assert!(p.chars().any(|c| c.is_ascii_uppercase()));
            assert!(p.chars().any(|c| !c.is_alphanumeric()));
        }
    }
}
