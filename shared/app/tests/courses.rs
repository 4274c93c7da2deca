//! The shape of a request to link an offering to a Moodle course.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use app::courses::{CourseDraft, LinkChoice, LinkRequestError};

fn draft(shortname: &str, fullname: &str) -> CourseDraft {
    CourseDraft {
        shortname: shortname.into(),
        fullname: fullname.into(),
        category: 3,
    }
}

#[test]
fn a_request_links_by_idnumber_by_course_id_or_by_a_new_course() {
    assert_eq!(
        LinkChoice::from_request(None, None),
        Ok(LinkChoice::FindByIdnumber)
    );
    assert_eq!(
        LinkChoice::from_request(Some(42), None),
        Ok(LinkChoice::CourseId(42))
    );
    assert_eq!(
        LinkChoice::from_request(None, Some(draft("WELD", "Welding"))),
        Ok(LinkChoice::Create {
            shortname: "WELD".into(),
            fullname: "Welding".into(),
            category: 3,
        })
    );
}

#[test]
fn a_course_id_and_a_new_course_together_are_refused() {
    let e = LinkChoice::from_request(Some(42), Some(draft("WELD", "Welding"))).unwrap_err();
    assert_eq!(e, LinkRequestError::Both);
    assert_eq!(e.field(), "links.create");
    assert_eq!(e.to_string(), "send course_id or create, not both");
}

#[test]
fn a_new_course_with_a_blank_name_is_refused_naming_it() {
    let e = LinkChoice::from_request(None, Some(draft(" ", "Welding"))).unwrap_err();
    assert_eq!(e.field(), "links.create.shortname");
    assert_eq!(e.to_string(), "links.create.shortname must not be empty");
    let e = LinkChoice::from_request(None, Some(draft("WELD", ""))).unwrap_err();
    assert_eq!(
        e,
        LinkRequestError::EmptyName {
            field: "links.create.fullname"
        }
    );
}
