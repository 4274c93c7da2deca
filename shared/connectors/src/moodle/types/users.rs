//! Users: look-ups, creates and updates.

use super::wire::{opt_bool_01, opt_secret};
use super::{Criterion, MoodleWarning, TypeValue};
use crate::moodle::ids::MoodleUserId;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// `core_user_get_users`: `criteria[0][key]=email&criteria[0][value]=...` (AND-ed).
/// Moodle requires at least one criterion.
#[derive(Debug, Clone, Serialize)]
pub struct GetUsersRequest {
    pub criteria: Vec<Criterion>,
}

/// `{users, warnings}` from `core_user_get_users`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UsersResponse {
    pub users: Vec<User>,
    #[serde(default)]
    pub warnings: Vec<MoodleWarning>,
}

/// `core_user_get_users_by_field`: `field=username&values[0]=a&values[1]=b`.
#[derive(Debug, Clone, Serialize)]
pub struct GetUsersByFieldRequest {
    pub field: String,
    pub values: Vec<String>,
}

/// A field `core_user_get_users_by_field` can search by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    Id,
    Idnumber,
    Username,
    Email,
}

impl UserField {
    pub fn name(self) -> &'static str {
        match self {
            UserField::Id => "id",
            UserField::Idnumber => "idnumber",
            UserField::Username => "username",
            UserField::Email => "email",
        }
    }
}

/// A Moodle user as the look-up functions describe one. Which fields are
/// present depends on the token user's capabilities.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    pub id: MoodleUserId,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    pub fullname: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub idnumber: Option<String>,
    #[serde(default)]
    pub firstaccess: Option<i64>,
    #[serde(default)]
    pub lastaccess: Option<i64>,
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub suspended: Option<bool>,
    #[serde(default)]
    pub confirmed: Option<bool>,
    #[serde(default)]
    pub lang: Option<String>,
    #[serde(default)]
    pub theme: Option<String>,
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub mailformat: Option<i64>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub profileimageurlsmall: Option<String>,
    #[serde(default)]
    pub profileimageurl: Option<String>,
}

/// One user for `core_user_create_users` (`users[0][username]=...`).
///
/// Either `createpassword` (Moodle mails a password) or `password` must be
/// given, unless the `auth` plugin has no passwords. The password is a secret:
/// it is only ever written into the request body.
#[derive(Debug, Clone, Serialize)]
pub struct NewUser {
    /// Must be lower case; [`NewUser::new`] lower-cases it.
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_bool_01"
    )]
    pub createpassword: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_secret")]
    pub password: Option<SecretString>,
    pub firstname: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middlename: Option<String>,
    pub lastname: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idnumber: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub institution: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub customfields: Vec<TypeValue>,
    /// e.g. `auth_forcepasswordchange` = `1`: change the password at first login.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<TypeValue>,
}

impl NewUser {
    /// A manual-auth user; the username is lower-cased as Moodle requires.
    pub fn new(
        username: impl Into<String>,
        firstname: impl Into<String>,
        lastname: impl Into<String>,
        email: impl Into<String>,
    ) -> Self {
        Self {
            username: username.into().to_lowercase(),
            auth: None,
            createpassword: None,
            password: None,
            firstname: firstname.into(),
            middlename: None,
            lastname: lastname.into(),
            email: email.into(),
            idnumber: None,
            city: None,
            country: None,
            lang: None,
            institution: None,
            department: None,
            customfields: Vec::new(),
            preferences: Vec::new(),
        }
    }

    /// Sends a generated password and makes Moodle ask for a new one at first login.
    pub fn with_password(mut self, password: SecretString) -> Self {
        self.password = Some(password);
        self.createpassword = None;
        self.preferences.push(TypeValue {
            kind: "auth_forcepasswordchange".into(),
            value: "1".into(),
        });
        self
    }

    /// Moodle creates the password and emails it to the user.
    pub fn with_moodle_password(mut self) -> Self {
        self.createpassword = Some(true);
        self.password = None;
        self
    }

    pub fn with_idnumber(mut self, idnumber: impl Into<String>) -> Self {
        self.idnumber = Some(idnumber.into());
        self
    }

    pub fn with_auth(mut self, auth: impl Into<String>) -> Self {
        self.auth = Some(auth.into());
        self
    }
}

/// `[{id, username}]` from `core_user_create_users`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreatedUser {
    pub id: MoodleUserId,
    pub username: String,
}

/// One user change for `core_user_update_users`: only the fields set are sent.
#[derive(Debug, Clone, Serialize)]
pub struct UserUpdate {
    pub id: MoodleUserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "opt_bool_01"
    )]
    pub suspended: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "opt_secret")]
    pub password: Option<SecretString>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firstname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub middlename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lastname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idnumber: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub customfields: Vec<TypeValue>,
}

impl UserUpdate {
    pub fn new(id: MoodleUserId) -> Self {
        Self {
            id,
            username: None,
            auth: None,
            suspended: None,
            password: None,
            firstname: None,
            middlename: None,
            lastname: None,
            email: None,
            idnumber: None,
            customfields: Vec::new(),
        }
    }
}
