use super::*;

#[test]
fn an_assessable_is_mapped_only_at_an_allowed_level() {
    use AssessableKind::{Task, Unit};
    let cases: [(&[AssessableKind], AssessableKind, bool); 5] = [
        (&[Unit, Task], Unit, true),
        (&[Unit, Task], Task, true),
        (&[Unit], Task, false),
        (&[Task], Unit, false),
        (&[], Unit, false),
    ];
    for (levels, kind, ok) in cases {
        let mut a = assessable(None);
        a.kind = kind;
        let got = check_level(levels, &a);
        assert_eq!(got.is_ok(), ok, "{levels:?} {kind:?}");
        if let Err(e) = got {
            assert_eq!(
                e.to_string(),
                format!(
                    "assessable {} is a {}, a level this connection does not map or result (result_levels)",
                    a.id,
                    level_name(kind)
                )
            );
        }
    }
}

#[test]
fn only_the_seeds_activity_types_can_be_mapped() {
    for m in MAPPABLE_MODULES {
        assert!(is_mappable(m), "{m}");
    }
    for m in ["forum", "page", "url", "resource", "label", "feedback", ""] {
        assert!(!is_mappable(m), "{m}");
    }
    let course = vec![
        CourseActivity::new(1, "quiz", "Quiz"),
        CourseActivity::new(2, "forum", "News"),
        CourseActivity::new(3, "assign", "Essay"),
    ];
    assert!(course[0].mappable && !course[1].mappable);
    assert_eq!(check_mapping(&course, &[1, 3]).unwrap().len(), 2);
    let err = check_mapping(&course, &[1, 2]).unwrap_err();
    assert_eq!(
        err,
        MappingError::UnmappableType {
            cmid: 2,
            modname: "forum".into()
        }
    );
    assert!(
        err.to_string()
            .contains("is a forum, which cannot be mapped")
    );
    assert_eq!(
        check_mapping(&course, &[9]),
        Err(MappingError::UnknownActivity { cmid: 9 })
    );
    assert_eq!(check_mapping(&course, &[]), Err(MappingError::NoActivities));
    assert_eq!(
        check_mapping(&course, &[1, 1]),
        Err(MappingError::Duplicate { cmid: 1 })
    );
}
