//! An email as the rules write it (run-error emails, learner emails); the
//! [`crate::ports::Mailer`] port sends it.

/// One email, with no secret in it unless the connection's settings require it
/// (a generated password for a new Moodle user).
#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
}
