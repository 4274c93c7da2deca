use super::*;

#[test]
fn wire_fields_are_named_as_the_learner_s() {
    let cases = [
        ("familyName", "family_name"),
        ("givenName", "given_name"),
        ("otherName", "other_name"),
        ("externalId", "learner_code"),
        ("dateOfBirth", "date_of_birth"),
        ("email", "email"),
        ("username", "username"),
    ];
    for (wire, ours) in cases {
        assert_eq!(domain_field(wire), ours);
    }
}

#[test]
fn logged_bodies_are_capped_at_a_character_boundary() {
    let cases = [
        ("short".to_owned(), "short".to_owned()),
        ("a".repeat(LOGGED_BODY_MAX), "a".repeat(LOGGED_BODY_MAX)),
        (
            "a".repeat(LOGGED_BODY_MAX + 10),
            format!(
                "{}... [10 more bytes not logged]",
                "a".repeat(LOGGED_BODY_MAX)
            ),
        ),
        (
            format!("{}é", "a".repeat(LOGGED_BODY_MAX - 1)),
            format!(
                "{}... [2 more bytes not logged]",
                "a".repeat(LOGGED_BODY_MAX - 1)
            ),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(cap_body(body), expected);
    }
}

#[test]
fn a_candidate_without_a_learner_code_is_not_ours() {
    let made_in_the_ui: CandidateIn = serde_json::from_value(serde_json::json!({
        "id": "c-1", "username": "u", "email": "e@x.org", "familyName": "A",
        "givenName": null, "otherName": null, "externalId": null, "dateOfBirth": null,
        "createdAt": "2026-03-01T00:00:00Z", "updatedAt": "2026-03-01T00:00:00Z"
    }))
    .unwrap();
    let err = RemoteCandidate::try_from(made_in_the_ui).unwrap_err();
    assert!(err.to_string().contains("externalId"));
}

#[test]
fn bad_urls_are_refused_before_any_call() {
    for (api, auth) in [("not a url", "https://a/token"), ("https://a", "nope")] {
        let err = OcsatClient::new(
            api,
            auth,
            "id",
            SecretString::from("s"),
            SecretString::from("k"),
            crate::egress::Egress::AllowInternal,
        )
        .err()
        .unwrap();
        assert!(matches!(err, LlnError::Client(_)));
    }
}
