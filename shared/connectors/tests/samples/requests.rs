//! The client's requests match the recorded ones, byte for byte; secrets never shown.

use super::*;

// ------------------------------------------------------------------ requests

const TOKEN: &str = "acce55ed0cc1001a11ce5e57ab1e0001";

fn body<P: Serialize>(function: WsFunction, params: &P) -> String {
    form_body(
        &SecretString::from(TOKEN),
        function.name(),
        &encode_params(function, params).unwrap(),
    )
}

fn pairs(form: &str) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = url::form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    pairs
}

/// Our request for a recorded example carries exactly the recorded fields and values.
fn assert_same_request<P: Serialize>(function: WsFunction, example: &str, params: &P) {
    let sample = load(&samples_dir().join(format!("{}.json", function.name())));
    let recorded = sample["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == example)
        .unwrap();
    let recorded_form = recorded["request"]["form"].as_str().unwrap();
    assert_eq!(
        pairs(&body(function, params)),
        pairs(recorded_form),
        "{} / {example}",
        function.name()
    );
}

#[test]
fn requests_match_the_recorded_ones() {
    use WsFunction::*;
    assert_same_request(GetSiteInfo, "ok", &NoParams {});
    assert_same_request(
        GetCategories,
        "by_idnumber",
        &GetCategoriesRequest {
            criteria: vec![Criterion::new("idnumber", "ACC-CAT-1")],
            addsubcategories: None,
        },
    );
    assert_same_request(
        GetCategories,
        "all",
        &GetCategoriesRequest {
            criteria: vec![],
            addsubcategories: Some(true),
        },
    );
    assert_same_request(
        GetCoursesByField,
        "by_idnumber",
        &GetCoursesByFieldRequest {
            field: Some("idnumber".into()),
            value: Some("OCC-1001".into()),
        },
    );
    assert_same_request(
        GetCoursesByField,
        "all",
        &GetCoursesByFieldRequest::default(),
    );
    assert_same_request(
        GetCourses,
        "by_ids",
        &GetCoursesRequest {
            options: GetCoursesOptions {
                ids: vec![MoodleCourseId(2)],
            },
        },
    );
    assert_same_request(GetCourses, "all", &GetCoursesRequest::default());
    assert_same_request(
        GetContents,
        "ok",
        &GetContentsRequest {
            courseid: MoodleCourseId(2),
            options: vec![],
        },
    );
    assert_same_request(
        GetCourseModule,
        "quiz",
        &GetCourseModuleRequest {
            cmid: CourseModuleId(1),
        },
    );
    let mut course = NewCourse::new("Sample Created Course", "SAMPLE-C-1", MoodleCategoryId(2));
    course.idnumber = Some("SAMPLE-C-1".into());
    course.summary = Some("Created by samples.sh".into());
    course.format = Some("topics".into());
    course.enablecompletion = Some(true);
    course.numsections = Some(2);
    assert_same_request(
        CreateCourses,
        "ok",
        &Courses {
            courses: vec![course],
        },
    );
    let mut update = CourseUpdate::new(MoodleCourseId(3));
    update.fullname = Some("Sample Created Course (updated)".into());
    update.visible = Some(false);
    assert_same_request(
        UpdateCourses,
        "ok",
        &Courses2 {
            courses: vec![update],
        },
    );
    assert_same_request(
        ImportCourse,
        "ok",
        &ImportCourseRequest {
            importfrom: MoodleCourseId(2),
            importto: MoodleCourseId(3),
            deletecontent: false,
            options: vec![],
        },
    );
    assert_same_request(
        GetUsers,
        "by_email",
        &GetUsersRequest {
            criteria: vec![Criterion::new("email", "student1@example.com")],
        },
    );
    assert_same_request(
        GetUsersByField,
        "by_username",
        &GetUsersByFieldRequest {
            field: "username".into(),
            values: vec!["occ.student1".into(), "occ.student2".into()],
        },
    );
    let user = NewUser::new(
        "sample.created1",
        "Sample",
        "Created",
        "sample.created1@example.com",
    )
    .with_idnumber("SAMPLE-U-1")
    .with_auth("manual");
    let user = NewUser {
        password: Some(SecretString::from("Sample#1234")),
        ..user
    };
    assert_same_request(CreateUsers, "ok", &Users { users: vec![user] });
    let ext = NewUser {
        createpassword: Some(false),
        password: Some(SecretString::from("Sample#1234")),
        ..NewUser::new(
            "sample+ext@example.com",
            "Ext",
            "Chars",
            "sample.ext@example.com",
        )
    };
    assert_same_request(CreateUsers, "extended_chars", &Users { users: vec![ext] });
    let mut change = UserUpdate::new(MoodleUserId(7));
    change.firstname = Some("Sample-Updated".into());
    change.idnumber = Some("SAMPLE-U-1B".into());
    assert_same_request(
        UpdateUsers,
        "ok",
        &UserUpdates {
            users: vec![change],
        },
    );
    assert_same_request(
        GetEnrolledUsers,
        "students_only_fields",
        &GetEnrolledUsersRequest {
            courseid: MoodleCourseId(2),
            options: vec![
                NameValue::new("withcapability", "mod/assign:submit"),
                NameValue::new("userfields", "id,username,idnumber,email,roles"),
            ],
        },
    );
    assert_same_request(
        GetUsersCourses,
        "student1",
        &GetUsersCoursesRequest {
            userid: MoodleUserId(4),
            returnusercount: None,
        },
    );
    let enrol = Enrolment::new(MoodleUserId(7), MoodleCourseId(2), MoodleRoleId::STUDENT);
    assert_same_request(
        EnrolUsers,
        "ok",
        &Enrolments {
            enrolments: vec![enrol],
        },
    );
    let dated = Enrolment {
        timestart: Some(1704067200),
        timeend: Some(0),
        suspend: Some(false),
        ..Enrolment::new(MoodleUserId(8), MoodleCourseId(3), MoodleRoleId(5))
    };
    assert_same_request(
        EnrolUsers,
        "with_dates",
        &Enrolments {
            enrolments: vec![dated],
        },
    );
    assert_same_request(
        UnenrolUsers,
        "ok",
        &Unenrolments {
            enrolments: vec![Unenrolment::new(MoodleUserId(7), MoodleCourseId(2))],
        },
    );
    assert_same_request(
        GetGradeItems,
        "student1",
        &GetGradeItemsRequest {
            courseid: MoodleCourseId(2),
            userid: Some(MoodleUserId(4)),
            groupid: None,
        },
    );
    assert_same_request(
        GetGradeItems,
        "all_users_userid0",
        &GetGradeItemsRequest {
            courseid: MoodleCourseId(2),
            userid: Some(MoodleUserId(0)),
            groupid: None,
        },
    );
    let completion = CompletionRequest {
        courseid: MoodleCourseId(2),
        userid: MoodleUserId(4),
    };
    assert_same_request(GetActivitiesCompletionStatus, "student1", &completion);
    assert_same_request(GetCourseCompletionStatus, "student1", &completion);
    assert_same_request(
        LegacyGetGrades,
        "error_function_missing",
        &LegacyGetGradesRequest {
            courseid: MoodleCourseId(2),
            component: None,
            activityid: None,
            userids: vec![MoodleUserId(4)],
        },
    );
}

#[derive(Serialize)]
struct Courses {
    courses: Vec<NewCourse>,
}

#[derive(Serialize)]
struct Courses2 {
    courses: Vec<CourseUpdate>,
}

#[derive(Serialize)]
struct Users {
    users: Vec<NewUser>,
}

#[derive(Serialize)]
struct UserUpdates {
    users: Vec<UserUpdate>,
}

#[derive(Serialize)]
struct Enrolments {
    enrolments: Vec<Enrolment>,
}

#[derive(Serialize)]
struct Unenrolments {
    enrolments: Vec<Unenrolment>,
}

#[test]
fn form_encoding_is_exact() {
    let ana = NewUser::new("Ana", "Ana", "Silva", "ana@example.com")
        .with_auth("manual")
        .with_moodle_password();
    let params = encode_params(WsFunction::CreateUsers, &Users { users: vec![ana] }).unwrap();
    assert_eq!(
        params,
        "users[0][username]=ana&users[0][auth]=manual&users[0][createpassword]=1&users[0][firstname]=Ana&users[0][lastname]=Silva&users[0][email]=ana@example.com"
    );
    let full = form_body(
        &SecretString::from("t0k"),
        "core_user_create_users",
        &params,
    );
    assert!(full.starts_with("wstoken=t0k&wsfunction=core_user_create_users&moodlewsrestformat=json&users[0][username]=ana&"));

    // Values that mean something in a form are escaped; `+` is not a space.
    let tricky = NewUser::new("a+b@x.org", "Zoë & Jo", "O'Neil=1", "a+b@x.org");
    let params = encode_params(
        WsFunction::CreateUsers,
        &Users {
            users: vec![tricky],
        },
    )
    .unwrap();
    assert_eq!(
        params,
        "users[0][username]=a%2Bb@x.org&users[0][firstname]=Zo%C3%AB+%26+Jo&users[0][lastname]=O'Neil%3D1&users[0][email]=a%2Bb@x.org"
    );
    let decoded = pairs(&params);
    assert!(decoded.contains(&("users[0][firstname]".into(), "Zoë & Jo".into())));
    assert!(decoded.contains(&("users[0][username]".into(), "a+b@x.org".into())));

    // Booleans go as 0/1; nested name/value lists and options[ids][] as PHP reads them.
    let update = UserUpdate {
        suspended: Some(true),
        ..UserUpdate::new(MoodleUserId(7))
    };
    assert_eq!(
        encode_params(
            WsFunction::UpdateUsers,
            &UserUpdates {
                users: vec![update]
            }
        )
        .unwrap(),
        "users[0][id]=7&users[0][suspended]=1"
    );
    let get = GetCoursesRequest {
        options: GetCoursesOptions {
            ids: vec![MoodleCourseId(2), MoodleCourseId(3)],
        },
    };
    assert_eq!(
        encode_params(WsFunction::GetCourses, &get).unwrap(),
        "options[ids][0]=2&options[ids][1]=3"
    );
    let enrolled = GetEnrolledUsersRequest {
        courseid: MoodleCourseId(2),
        options: vec![NameValue::new("userfields", "id,email")],
    };
    assert_eq!(
        encode_params(WsFunction::GetEnrolledUsers, &enrolled).unwrap(),
        "courseid=2&options[0][name]=userfields&options[0][value]=id,email"
    );
    let two = Enrolments {
        enrolments: vec![
            Enrolment::new(MoodleUserId(7), MoodleCourseId(2), MoodleRoleId(5)),
            Enrolment::new(MoodleUserId(8), MoodleCourseId(2), MoodleRoleId(5)).suspended(false),
        ],
    };
    assert_eq!(
        encode_params(WsFunction::EnrolUsers, &two).unwrap(),
        "enrolments[0][roleid]=5&enrolments[0][userid]=7&enrolments[0][courseid]=2&enrolments[1][roleid]=5&enrolments[1][userid]=8&enrolments[1][courseid]=2&enrolments[1][suspend]=0"
    );
    assert_eq!(
        encode_params(WsFunction::GetSiteInfo, &NoParams {}).unwrap(),
        ""
    );
}

#[test]
fn a_password_is_sent_but_never_shown() {
    let user = NewUser::new("ana", "Ana", "Silva", "ana@example.com")
        .with_password(SecretString::from("S3cret#pass"));
    let params = encode_params(
        WsFunction::CreateUsers,
        &Users {
            users: vec![user.clone()],
        },
    )
    .unwrap();
    assert!(params.contains("users[0][password]=S3cret%23pass"));
    assert!(params.contains(
        "users[0][preferences][0][type]=auth_forcepasswordchange&users[0][preferences][0][value]=1"
    ));
    assert!(!format!("{user:?}").contains("S3cret"));
}

#[test]
fn the_client_debug_never_shows_the_token() {
    let client = MoodleClient::new(
        MoodleConfig::new("https://lms.example.edu/moodle/webservice/rest/server.php?wstoken=leak"),
        MoodleAuth::Token(SecretString::from("acce55ed0cc1001a11ce5e57ab1e0001")),
    )
    .unwrap();
    let debug = format!("{client:?}");
    assert!(!debug.contains("acce55ed"), "{debug}");
    assert!(
        !debug.contains("leak"),
        "a query string on the base URL is dropped: {debug}"
    );
    assert!(
        debug.contains("https://lms.example.edu/moodle/webservice/rest/server.php"),
        "{debug}"
    );
    let password = MoodleAuth::Password {
        username: "ws".into(),
        password: SecretString::from("pw-secret"),
        service: "learnbridge".into(),
    };
    assert!(!format!("{password:?}").contains("pw-secret"));
}

#[test]
fn required_function_sets_follow_the_seeds() {
    let all = required_functions(&[
        Feature::EnrolmentPush,
        Feature::Results,
        Feature::CourseCompletion,
    ]);
    assert_eq!(all[0], "core_webservice_get_site_info");
    assert!(all.contains(&"core_user_get_users_by_field"));
    assert!(all.contains(&"core_completion_get_course_completion_status"));
    let features = Feature::enabled_by(&domain::connection::MoodleSettings {
        course_completions: false,
        ..Default::default()
    });
    assert_eq!(features, [Feature::EnrolmentPush, Feature::Results]);
}
