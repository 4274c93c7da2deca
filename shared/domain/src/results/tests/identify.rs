use super::*;

#[test]
fn participants_are_identified_by_stored_account_then_idnumber_then_username() {
    let participants = vec![
        p(1, "ana", "L1"),
        p(2, "bea.moodle", "L2"),
        p(3, "Carla", ""),
        p(4, "dup", "L4"),
        p(5, "dup2", "L4"),
        p(6, "eve", "L6"),
        p(7, "x", "L7"),
        p(8, "shared", ""),
    ];
    type Want = Vec<(i64, &'static str, IdentifiedBy)>;
    let cases: Vec<(&str, Vec<KnownLearner>, Want, Vec<&str>)> = vec![
        (
            "stored account wins over an idnumber elsewhere",
            vec![l("L1", None, Some(9))],
            vec![(9, "L1", IdentifiedBy::Stored)],
            vec![],
        ),
        (
            "idnumber is the learner code",
            vec![l("L2", Some("other"), None)],
            vec![(2, "L2", IdentifiedBy::Idnumber)],
            vec![],
        ),
        (
            "username, case and spaces ignored",
            vec![l("L3", Some(" carla "), None)],
            vec![(3, "L3", IdentifiedBy::Username)],
            vec![],
        ),
        (
            "no match: nobody",
            vec![l("L9", Some("nobody"), None)],
            vec![],
            vec![],
        ),
        (
            "two participants with the idnumber: not guessed",
            vec![l("L4", None, None)],
            vec![],
            vec!["L4"],
        ),
        (
            "a participant already someone's stored account is not taken",
            vec![l("A", None, Some(6)), l("L6", None, None)],
            vec![(6, "A", IdentifiedBy::Stored)],
            vec![],
        ),
        (
            "two learners for one participant: neither",
            vec![l("M1", Some("shared"), None), l("M2", Some("SHARED"), None)],
            vec![],
            vec!["M1", "M2"],
        ),
        (
            "idnumber before username",
            vec![l("L7", Some("ana"), None)],
            vec![(7, "L7", IdentifiedBy::Idnumber)],
            vec![],
        ),
    ];
    for (name, learners, want, ambiguous) in cases {
        let got = identify(&participants, &learners);
        let mut pairs: Vec<(i64, &str, IdentifiedBy)> = got
            .by_user
            .iter()
            .map(|(u, (c, how))| (*u, c.as_str(), *how))
            .collect();
        pairs.sort_by_key(|x| x.0);
        assert_eq!(pairs, want, "{name}");
        let amb: Vec<&str> = got.ambiguous.iter().map(|c| c.as_str()).collect();
        assert_eq!(amb, ambiguous, "{name}");
    }
}
