//! Contract tests against the recorded Moodle 4.3 samples (`tests/fixtures/moodle-samples`,
//! a copy of `shared/moodle-samples`): every recorded answer parses into its typed
//! response or maps to the right typed error, and the requests we build carry
//! exactly the fields the recorded requests carried.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers: a failed expectation is a failed test

use connectors::moodle::types::*;
use connectors::moodle::*;
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn samples_dir() -> PathBuf {
    PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo test sets CARGO_MANIFEST_DIR"),
    )
    .join("tests/fixtures/moodle-samples")
}

fn load(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The recorded body as bytes, exactly as Moodle sent it.
fn body_bytes(example: &Value) -> Vec<u8> {
    match &example["response"]["body"] {
        Value::String(s) => s.clone().into_bytes(),
        other => serde_json::to_vec(other).unwrap(),
    }
}

fn function_named(name: &str) -> Option<WsFunction> {
    WsFunction::ALL.iter().copied().find(|f| f.name() == name)
}

/// Parses an answer with the typed response of its function.
fn parse_typed(function: WsFunction, body: &[u8]) -> Result<String, MoodleError> {
    use WsFunction::*;
    Ok(match function {
        GetSiteInfo => format!("{:?}", parse_answer::<SiteInfo>(function, body)?),
        GetCategories => format!("{:?}", parse_answer::<Vec<Category>>(function, body)?),
        GetCoursesByField => format!("{:?}", parse_answer::<CoursesByField>(function, body)?),
        GetCourses => format!("{:?}", parse_answer::<Vec<Course>>(function, body)?),
        GetContents => format!("{:?}", parse_answer::<Vec<CourseSection>>(function, body)?),
        GetCourseModule => format!(
            "{:?}",
            parse_answer::<CourseModuleResponse>(function, body)?
        ),
        CreateCourses => format!("{:?}", parse_answer::<Vec<CreatedCourse>>(function, body)?),
        UpdateCourses | UpdateUsers => {
            format!("{:?}", parse_answer::<WarningsOnly>(function, body)?)
        }
        ImportCourse | EnrolUsers | UnenrolUsers => {
            format!("{:?}", parse_answer::<Option<Value>>(function, body)?)
        }
        GetUsers => format!("{:?}", parse_answer::<UsersResponse>(function, body)?),
        GetUsersByField => format!("{:?}", parse_answer::<Vec<User>>(function, body)?),
        CreateUsers => format!("{:?}", parse_answer::<Vec<CreatedUser>>(function, body)?),
        GetEnrolledUsers => format!("{:?}", parse_answer::<Vec<EnrolledUser>>(function, body)?),
        GetUsersCourses => format!("{:?}", parse_answer::<Vec<UserCourse>>(function, body)?),
        GetGradeItems => format!("{:?}", parse_answer::<GradeItemsResponse>(function, body)?),
        GetActivitiesCompletionStatus => format!(
            "{:?}",
            parse_answer::<ActivitiesCompletion>(function, body)?
        ),
        GetCourseCompletionStatus => format!(
            "{:?}",
            parse_answer::<CourseCompletionResponse>(function, body)?
        ),
        GetMobileConfig => format!("{:?}", parse_answer::<MobileConfig>(function, body)?),
        LegacyGetGrades => format!(
            "{:?}",
            parse_answer::<LegacyGradesResponse>(function, body)?
        ),
    })
}

// ------------------------------------------------------------------ typed answers

fn example_body(function: &str, example: &str) -> Vec<u8> {
    let sample = load(&samples_dir().join(format!("{function}.json")));
    let found = sample["examples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == example)
        .unwrap()
        .clone();
    body_bytes(&found)
}

mod answers;
mod errors;
mod requests;
