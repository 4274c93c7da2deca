//! Every recorded error maps to its variant, keeping Moodle's words.

use super::*;

fn error_of(path: &Path) -> MoodleError {
    let sample = load(path);
    // The recorded request may call another function than the file is named
    // after (the unknown and not-in-service cases): map for the one called.
    let called = sample["request"]["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == "wsfunction")
        .map(|p| p[1].as_str().unwrap().to_owned())
        .unwrap();
    let body = body_bytes(&sample);
    let exception: MoodleException = serde_json::from_slice(&body).unwrap();
    let mapped = MoodleError::from_exception_named(&called, exception);
    // Reading the answer through the client's parser gives the same variant.
    if let Some(function) = function_named(&called) {
        let parsed = parse_answer::<Value>(function, &body).unwrap_err();
        assert_eq!(
            std::mem::discriminant(&parsed),
            std::mem::discriminant(&mapped),
            "{}",
            path.display()
        );
        assert_eq!(parsed.to_string(), mapped.to_string());
    }
    mapped
}

#[test]
fn every_error_sample_maps_to_its_variant() {
    let dir = samples_dir().join("errors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 36, "every recorded error case is checked");
    for path in files {
        let case = path
            .file_stem()
            .unwrap()
            .to_str()
            .unwrap()
            .split("__")
            .nth(1)
            .unwrap()
            .to_owned();
        let body = body_bytes(&load(&path));
        if path.to_str().unwrap().contains("login_token__") {
            // login/token.php answers errors in its own shape: each says what to fix.
            let answer: Value = serde_json::from_slice(&body).unwrap();
            let errorcode = answer["errorcode"].as_str().unwrap().to_owned();
            let error = MoodleError::Login {
                errorcode: errorcode.clone(),
                message: answer["error"].as_str().unwrap().to_owned(),
                service: "learnbridge".into(),
            };
            let fix = match case.as_str() {
                "error_wrong_password" => "check the connection's username",
                "error_user_not_allowed" => "Authorised users",
                "error_unknown_service" => "settings.login.service",
                other => panic!("unclassified login case {other}"),
            };
            assert!(
                error.to_string().contains(fix),
                "{}: {error}",
                path.display()
            );
            assert!(error.is_site_wide());
            continue;
        }
        if !String::from_utf8_lossy(&body).contains("\"exception\"") {
            // Some "errors" are warnings in a normal answer (a taken username
            // or email address: the user is left unchanged).
            let answer: WarningsOnly = parse_answer(WsFunction::UpdateUsers, &body).unwrap();
            let expected = if case.contains("email") {
                "useremailduplicate"
            } else {
                "dmlwriteexception"
            };
            assert_eq!(
                answer.warnings[0].warningcode,
                expected,
                "{}",
                path.display()
            );
            continue;
        }
        let error = error_of(&path);
        let ok = match case.as_str() {
            "error_not_enrolled" | "error_usernotenroled_after_unenrol" => {
                matches!(error, MoodleError::NotEnrolled { .. })
            }
            // Debugging off: Moodle says only invalidparameter; the caller looks up why.
            "error_duplicate_email_case" => matches!(
                error,
                MoodleError::InvalidParameter {
                    debuginfo: None,
                    ..
                }
            ),
            "error_duplicate_email_case_debuginfo" => {
                matches!(error, MoodleError::EmailTaken { .. })
            }
            "error_bad_category" => {
                matches!(&error, MoodleError::RecordNotFound { errorcode, .. } if errorcode == "errorcatcontextnotvalid")
            }
            "error_duplicate_shortname" => matches!(error, MoodleError::ShortnameTaken { .. }),
            "error_missing_param"
            | "error_bad_field"
            | "error_no_criteria"
            | "error_uppercase_username" => {
                matches!(
                    error,
                    MoodleError::InvalidParameter {
                        debuginfo: None,
                        ..
                    }
                )
            }
            // Without debugging, Moodle does not say why: the caller resolves by lookup.
            "error_duplicate_username" if path.to_str().unwrap().contains("create_users") => {
                matches!(
                    error,
                    MoodleError::InvalidParameter {
                        debuginfo: None,
                        ..
                    }
                )
            }
            "error_missing_param_debuginfo" => matches!(
                &error,
                MoodleError::InvalidParameter { debuginfo: Some(d), .. } if d == "Missing required key in single structure: courseid"
            ),
            "error_duplicate_username_debuginfo" => {
                matches!(&error, MoodleError::UsernameTaken { username } if username == "occ.student1")
            }
            "error_no_course" | "error_no_cm" | "error_no_user" => {
                matches!(
                    error,
                    MoodleError::RecordNotFound { .. } | MoodleError::InvalidParameter { .. }
                )
            }
            "error_no_course_debuginfo" => matches!(
                &error,
                MoodleError::InvalidParameter { debuginfo: Some(d), .. } if d == "Context does not exist"
            ),
            "error_function_missing" | "error_unknown_function" => {
                matches!(error, MoodleError::UnknownFunction { .. })
            }
            "error_weak_password" => matches!(
                &error,
                MoodleError::PasswordPolicy { policy } if policy.starts_with("Passwords must be at least 8 characters long.") && !policy.contains('<')
            ),
            "error_function_not_in_service" => {
                matches!(error, MoodleError::FunctionNotInService { .. })
            }
            "error_invalid_token" | "error_missing_token" => {
                matches!(error, MoodleError::InvalidToken { .. })
            }
            "error_bad_role" => matches!(error, MoodleError::CannotAssignRole { .. }),
            // A course without completion criteria: the results download learns it once.
            "error_nocriteriaset" => {
                matches!(&error, MoodleError::Other { errorcode, .. } if errorcode == "nocriteriaset")
            }
            other => panic!("unclassified sample case {other}"),
        };
        assert!(ok, "{}: got {error:?}", path.display());
        assert!(
            !error.is_retryable(),
            "{}: Moodle exceptions are permanent",
            path.display()
        );
        assert!(!error.to_string().is_empty());
    }
}

#[test]
fn specific_error_samples_keep_moodles_words() {
    let dir = samples_dir().join("errors");
    let e = error_of(&dir.join("enrol_manual_enrol_users__error_no_course.json"));
    assert!(
        matches!(e, MoodleError::InvalidParameter { .. }),
        "enrol into a missing course: {e:?}"
    );
    let e = error_of(&dir.join("enrol_manual_enrol_users__error_no_user.json"));
    assert!(
        matches!(&e, MoodleError::RecordNotFound { errorcode, .. } if errorcode == "codingerror"),
        "{e:?}"
    );
    assert!(e.to_string().contains("User ID does not exist"));
    let e = error_of(&dir.join("core_course_get_course_module__error_no_cm.json"));
    assert!(
        matches!(&e, MoodleError::RecordNotFound { errorcode, .. } if errorcode == "invalidrecordunknown")
    );
    let e = error_of(&dir.join("core_course_import_course__error_no_course.json"));
    assert!(
        matches!(&e, MoodleError::RecordNotFound { errorcode, .. } if errorcode == "invalidcourseid")
    );
    let e =
        error_of(&dir.join("core_webservice_get_site_info__error_function_not_in_service.json"));
    assert!(e.to_string().contains("core_course_search_courses"), "{e}");
    assert!(e.is_site_wide());
    let e = error_of(&dir.join("enrol_manual_enrol_users__error_bad_role.json"));
    assert_eq!(
        e.to_string(),
        "You don't have the permission to assign this role (999) to this user (7) in this course (2)."
    );
}
