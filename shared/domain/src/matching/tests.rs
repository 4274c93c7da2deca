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
    assert!(matches!(new_user_password(&plugin, pw), NewUserPassword::Plugin(a) if a == "vettrak"));
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
