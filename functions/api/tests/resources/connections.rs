//! Connections: secrets masked and write-only, settings merged, the connection test, one per kind, base URLs and the wrong kind refused.

use super::*;

#[tokio::test]
async fn a_connections_further_secrets_are_write_only_masked_and_named_by_kind() {
    let api = api().await;
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/connections/coursekey-main",
            Some(json!({"secrets": {"initial_password": "Welcome-2026-pass"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["secrets"]["initial_password"], "****pass");
    assert!(!body.to_string().contains("Welcome-2026"), "never returned");
    let stored = cloud::Secrets::new(aws_sdk_secretsmanager::Client::new(&api.sdk))
        .get(&format!(
            "{}/acme/coursekey-main/initial_password",
            api.config.secret_prefix
        ))
        .await
        .unwrap();
    assert_eq!(stored.expose_secret(), "Welcome-2026-pass");
    let (_, body) = api
        .call(
            ACME_KEY,
            "GET",
            "/v1/connections/coursekey-main/secret",
            None,
        )
        .await;
    assert_eq!(body["secrets"]["initial_password"], "****pass", "{body}");
    assert!(!body.to_string().contains("Welcome-2026"), "{body}");

    // A Moodle connection's one further secret is the password of a username
    // login: unknown names are refused by name, and nothing is stored.
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/connections/moodle-main",
            Some(json!({"secrets": {"api_key": "k-0123456789"}, "name": "renamed"})),
        )
        .await;
    assert_error(status, &body, 400, Some("connections.secrets.api_key"));
    let (_, body) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-main", None)
        .await;
    assert_ne!(body["name"], "renamed", "a refused patch changes nothing");
    let (_, body) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-main/secret", None)
        .await;
    assert_eq!(body["secrets"], json!({"password": null}));
    let (status, body) = api
        .call(
            ACME_KEY,
            "PATCH",
            "/v1/connections/coursekey-main",
            Some(json!({"secrets": {"initial_password": "  "}})),
        )
        .await;
    assert_error(
        status,
        &body,
        400,
        Some("connections.secrets.initial_password"),
    );
}

#[tokio::test]
async fn connections_are_created_with_a_masked_secret_and_merged_settings() {
    let api = api().await;
    let (status, body) = api
        .event(include_str!(
            "../../../../events/api/create-connection.json"
        ))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], "moodle-2");
    assert_eq!(body["kind"], "moodle");
    assert_eq!(body["enabled"], true);
    assert_eq!(body["secret"], "****abcd");
    assert_eq!(body["settings"]["role_id"], 5);
    assert_eq!(body["settings"]["auto_push"], true);
    assert_eq!(
        body["settings"]["new_user_auth"]["method"],
        "generated_password"
    );
    assert_eq!(
        body["settings"]["review_before_saving"], true,
        "defaults fill the rest"
    );
    let stored = cloud::Secrets::new(aws_sdk_secretsmanager::Client::new(&api.sdk))
        .get(&format!("{}/acme/moodle-2", api.config.secret_prefix))
        .await
        .unwrap();
    assert_eq!(stored.expose_secret(), "fixture-token-0123456789abcd");

    let (status, body) = api
        .event(include_str!(
            "../../../../events/api/create-connection.json"
        ))
        .await;
    assert_error(status, &body, 409, Some("connections.id"));

    let (status, body) = api
        .call(ACME_KEY, "PATCH", "/v1/connections/moodle-2", Some(json!({"settings": {"role_id": 9, "default_organisation": "ACME"}, "error_email": "ops@acme.example"})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["settings"]["role_id"], 9);
    assert_eq!(body["settings"]["auto_push"], true, "merged, not replaced");
    assert_eq!(body["settings"]["default_organisation"], "ACME");
    assert_eq!(body["error_email"], "ops@acme.example");

    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/moodle-2/disable", None)
        .await;
    assert_eq!((status, body["enabled"].as_bool()), (200, Some(false)));
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/moodle-2/enable", None)
        .await;
    assert_eq!((status, body["enabled"].as_bool()), (200, Some(true)));

    let (status, body) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/connections/moodle-2/secret",
            Some(json!({"secret": "rotated-token-0123456789wxyz"})),
        )
        .await;
    assert_eq!((status, body["secret"].as_str()), (200, Some("****wxyz")));
    let (status, body) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-2/secret", None)
        .await;
    assert_eq!((status, body["secret"].as_str()), (200, Some("****wxyz")));
    let (_, body) = api
        .call(ACME_KEY, "GET", "/v1/connections/moodle-2", None)
        .await;
    assert!(
        !body.to_string().contains("rotated-token"),
        "never returned"
    );

    // Errors, each naming its field.
    let cases = [
        (
            json!({"settings": {"roleid": 9}}),
            400,
            "connections.settings.roleid",
        ),
        (
            json!({"settings": {"role_id": 0}}),
            422,
            "connections.settings.role_id",
        ),
        (
            json!({"settings": {"kind": "ocsat"}}),
            422,
            "connections.settings.kind",
        ),
        (
            json!({"settings": {"new_user_auth": {"method": "plugin", "auth": " "}}}),
            422,
            "connections.settings.new_user_auth.auth",
        ),
        (json!({"base_url": "ftp://x"}), 400, "connections.base_url"),
        (
            json!({"error_email": "nobody"}),
            400,
            "connections.error_email",
        ),
        (json!({"secret": ""}), 400, "connections.secret"),
        (json!({"token": "x"}), 400, "connections.token"),
    ];
    for (patch, want_status, want_field) in cases {
        let (status, body) = api
            .call(
                ACME_KEY,
                "PATCH",
                "/v1/connections/moodle-2",
                Some(patch.clone()),
            )
            .await;
        assert_error(status, &body, want_status, Some(want_field));
    }
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections", Some(json!({"id": "x", "kind": "blackboard", "name": "x", "base_url": "https://x.example"})))
        .await;
    assert_error(status, &body, 400, Some("connections.kind"));
}

#[tokio::test]
async fn testing_a_moodle_connection_reports_the_site_and_missing_functions() {
    use simulators::moodle::MoodleSim;
    let api = api().await;
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    sim.set_timezone("Australia/Sydney").unwrap();
    // The full token's service also lets it read the site's zone (optional).
    let mut with_zone = simulators::moodle::fixture::SAMPLE_SERVICE_FUNCTIONS.to_vec();
    with_zone.push("tool_mobile_get_config");
    sim.add_token("zone-token-000000000000001", &with_zone);
    sim.add_token(
        "limited-token-0000000000001",
        &["core_webservice_get_site_info", "core_user_get_users"],
    );
    let create = |id: &str, secret: Option<&str>| {
        let mut body =
            json!({"id": id, "kind": "moodle", "name": "Sim", "base_url": server.base_url});
        if let Some(secret) = secret {
            body["secret"] = json!(secret);
        }
        body
    };
    api.call(
        ACME_KEY,
        "POST",
        "/v1/connections",
        Some(create("full", Some("zone-token-000000000000001"))),
    )
    .await;
    api.call(
        ACME_KEY,
        "POST",
        "/v1/connections",
        Some(create("limited", Some("limited-token-0000000000001"))),
    )
    .await;
    api.call(
        ACME_KEY,
        "POST",
        "/v1/connections",
        Some(create("no-secret", None)),
    )
    .await;
    api.call(
        ACME_KEY,
        "POST",
        "/v1/connections",
        Some(create("bad-token", Some("not-a-token-0000000000000"))),
    )
    .await;

    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/full/test", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["site"]["site_name"].is_string());
    assert!(
        body["site"]["release"].as_str().unwrap().contains('4'),
        "{body}"
    );
    assert!(body["site"]["version"].is_string());
    // The site's zone (tool_mobile_get_config) beside the tenant's (UTC, not
    // set): a note, not a failure.
    assert_eq!(body["site"]["time_zone"], "Australia/Sydney", "{body}");
    assert_eq!(body["tenant_time_zone"], "UTC");
    assert_eq!(body["ok"], true, "{body}");
    let note = body["notes"][0].as_str().unwrap();
    assert!(
        note.contains("Australia/Sydney") && note.contains("UTC"),
        "{note}"
    );
    let (status, _) = api
        .call(
            ACME_KEY,
            "PUT",
            "/v1/settings",
            Some(json!({"time_zone": "Australia/Sydney"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/full/test", None)
        .await;
    assert_eq!(body["tenant_time_zone"], "Australia/Sydney");
    assert_eq!(body["notes"], json!([]), "the same zone: nothing to say");

    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/limited/test", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["ok"], false);
    assert_eq!(body["site"]["time_zone"], Value::Null);
    assert!(
        body["notes"][0]
            .as_str()
            .unwrap()
            .contains("tool_mobile_get_config"),
        "the zone could not be read, and says why: {body}"
    );
    let missing: Vec<&str> = body["site"]["missing_functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    // Exactly the functions the enabled features' calls make, less the two allowed.
    let required = connectors::moodle::required_functions(
        &connectors::moodle::Feature::enabled_by(&MoodleSettings::default()),
    );
    let expected: Vec<&str> = required
        .into_iter()
        .filter(|f| !["core_webservice_get_site_info", "core_user_get_users"].contains(f))
        .collect();
    assert_eq!(missing, expected);
    assert!(
        missing.contains(&"core_user_get_users_by_field"),
        "{missing:?}"
    );
    assert_eq!(
        body["site"]["missing_optional_functions"],
        json!(["tool_mobile_get_config"]),
        "optional: named, and the test is still judged by the required ones"
    );

    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/bad-token/test", None)
        .await;
    assert_eq!((status, body["ok"].as_bool()), (200, Some(false)));
    assert!(
        body["problem"].as_str().unwrap().contains("token"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("not-a-token"),
        "the secret is never echoed"
    );

    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/no-secret/test", None)
        .await;
    assert_error(status, &body, 422, Some("connections.secret"));
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections/coursekey-main/test",
            None,
        )
        .await;
    assert_error(status, &body, 422, Some("connection_id"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_tenant_has_one_coursekey_connection() {
    let api = api().await;
    // acme already has coursekey-main.
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections",
            Some(
                json!({"id": "coursekey-2", "kind": "course_key", "name": "Second",
                        "base_url": "https://coursekey.example"}),
            ),
        )
        .await;
    assert_error(status, &body, 409, Some("connections.kind"));
    assert!(
        body["message"].as_str().unwrap().contains("coursekey-main"),
        "{body}"
    );
    // bolt has none: its first is created, its second refused.
    let first = json!({"id": "ck", "kind": "course_key", "name": "CourseKey",
                       "base_url": "https://coursekey.example"});
    let (status, body) = api
        .call(BOLT_KEY, "POST", "/v1/connections", Some(first))
        .await;
    assert_eq!(status, 201, "{body}");
    let second = json!({"id": "ck-2", "kind": "course_key", "name": "CourseKey",
                        "base_url": "https://coursekey.example"});
    let (status, body) = api
        .call(BOLT_KEY, "POST", "/v1/connections", Some(second))
        .await;
    assert_error(status, &body, 409, Some("connections.kind"));
}

#[tokio::test]
async fn a_connection_of_another_kind_on_a_moodle_route_is_a_422_naming_it() {
    let api = api().await;
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    assert!(status == 200 || status == 201, "{body}");
    for path in [
        "/v1/offerings/OCC-1/transfer-preview?connection=coursekey-main",
        "/v1/offerings/OCC-1/transfers?connection=coursekey-main",
    ] {
        let (status, body) = api.call(ACME_KEY, "GET", path, None).await;
        assert_error(status, &body, 422, Some("connection"));
    }
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/offerings/OCC-1/enrolments/X1/removal",
            Some(json!({"connection": "coursekey-main"})),
        )
        .await;
    assert_error(status, &body, 422, Some("removal.connection"));
}

/// A deployment refuses a base URL that is plain http or reaches an internal
/// address (literally or once resolved), with a 422 naming the field; one that
/// allows internal URLs (`LEARNBRIDGE_ALLOW_INTERNAL_URLS=true`) accepts them.
#[tokio::test]
async fn internal_and_plain_http_base_urls_are_refused_unless_the_deployment_allows_them() {
    let mut api = api().await;
    api.state.deps.egress = Egress::PublicOnly;
    let refused = [
        "https://127.0.0.1:8443/moodle",
        "https://169.254.169.254/latest/meta-data/",
        "http://moodle.example.edu/",
        "https://[::1]/",
        "https://[::ffff:169.254.169.254]/",
        "https://10.0.0.5/",
        "https://100.64.0.1/",
        "https://2130706433/",
        // A host name that resolves to 127.0.0.1.
        "https://localhost:8443/",
    ];
    for (i, url) in refused.iter().enumerate() {
        let id = format!("ssrf-{i}");
        let body = json!({"id": id, "kind": "moodle", "name": "Site", "base_url": url, "secret": "t0ken-0000000000"});
        let (status, body) = api
            .call(ACME_KEY, "POST", "/v1/connections", Some(body))
            .await;
        assert_error(status, &body, 422, Some("connections.base_url"));
        let (status, body) = api
            .call(
                ACME_KEY,
                "PATCH",
                "/v1/connections/moodle-main",
                Some(json!({"base_url": url})),
            )
            .await;
        assert_error(status, &body, 422, Some("connections.base_url"));
    }
    let (_, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections",
            Some(json!({"id": "md", "kind": "moodle", "name": "S", "base_url": "https://169.254.169.254/"})),
        )
        .await;
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("link-local"), "{message}");
    // An OCSAT token endpoint is a URL learnbridge calls too.
    let ocsat = json!({"id": "lln", "kind": "ocsat", "name": "LLN", "base_url": "https://api.ocsat.example/v1",
        "settings": {"auth_url": "https://192.168.0.10/oauth/token", "client_id": "c"}});
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections", Some(ocsat))
        .await;
    assert_error(status, &body, 422, Some("connections.settings.auth_url"));
    // A public https URL is fine (its name need not resolve here).
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections",
            Some(json!({"id": "public", "kind": "moodle", "name": "S", "base_url": "https://moodle.example.edu/"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    api.state.deps.egress = Egress::AllowInternal;
    for (i, url) in refused.iter().enumerate() {
        let id = format!("ssrf-{i}");
        let body = json!({"id": id, "kind": "moodle", "name": "Site", "base_url": url});
        let (status, body) = api
            .call(ACME_KEY, "POST", "/v1/connections", Some(body))
            .await;
        assert_eq!(status, 201, "{url} with internal URLs allowed: {body}");
    }
}

/// The check at connect time: a stored connection whose host name resolves to
/// 127.0.0.1 (saved before the rule, or by a name that rebinds) is refused by
/// the client's resolver before any connection is made, and the test says why.
#[tokio::test]
async fn a_name_that_resolves_to_an_internal_address_is_refused_at_connect_time() {
    let mut api = api().await;
    api.state.deps.egress = Egress::PublicOnly;
    api.state.deps.probe = Arc::new(api::probe::MoodleProbe::new(Egress::PublicOnly));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((_socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let stored = domain::Connection {
        base_url: format!("https://localhost:{port}/"),
        ..connection("acme", "rebound", Moodle, true)
    };
    api.state
        .deps
        .connections
        .save_connection(&stored)
        .await
        .unwrap();
    api.state
        .deps
        .secret_sink
        .put_secret(
            &stored.secret_name(&api.state.deps.secret_prefix),
            &secrecy::SecretString::from("t0ken-0000000000"),
        )
        .await
        .unwrap();
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/rebound/test", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], false, "{body}");
    let problem = body["problem"].as_str().unwrap();
    assert!(
        problem.contains("loopback") && problem.contains("internal"),
        "{problem}"
    );
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "no connection was made"
    );
}

/// A server that is not Moodle answers a long HTML page full of secrets: the
/// connection test shows a short, sanitised excerpt of it, never the page.
#[tokio::test]
async fn a_non_moodle_answer_is_reflected_only_as_a_short_sanitised_excerpt() {
    let api = api().await;
    let secrets_page = format!(
        "<!DOCTYPE html><html><head><title>Router admin</title><style>body{{}}</style></head><body>\r\n<h1>Welcome\u{1b}[31m</h1>\u{202e}<p>{}</p><p>AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</p></body></html>",
        "internal-db-password=hunter2; ".repeat(200)
    );
    let app = axum::Router::new().fallback(move || {
        let page = secrets_page.clone();
        async move {
            (
                [
                    ("content-type", "text/html"),
                    ("x-internal-token", "hdr-secret-0001"),
                ],
                page,
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let (status, body) = api
        .call(
            ACME_KEY,
            "POST",
            "/v1/connections",
            Some(json!({"id": "not-moodle", "kind": "moodle", "name": "S", "base_url": base_url, "secret": "t0ken-0000000000"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = api
        .call(ACME_KEY, "POST", "/v1/connections/not-moodle/test", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ok"], false, "{body}");
    let problem = body["problem"].as_str().unwrap();
    let whole = body.to_string();
    assert!(
        problem.contains("Router admin"),
        "an excerpt helps: {problem}"
    );
    assert!(problem.chars().count() < 300, "{problem}");
    for leaked in [
        "<",
        "\u{1b}",
        "\u{202e}",
        "\r",
        "hdr-secret",
        "x-internal-token",
        "AWS_SECRET",
    ] {
        assert!(!whole.contains(leaked), "{leaked:?} in {whole}");
    }
    assert!(
        whole.matches("hunter2").count() <= 8,
        "only an excerpt of the page: {whole}"
    );
}

/// Every route that works with one kind of connection refuses another kind with
/// a 422 naming the field (never a 200 over nothing, a 404 or a 502).
#[tokio::test]
async fn a_connection_of_the_wrong_kind_is_a_422_naming_the_field_on_every_route() {
    let api = api().await;
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/offerings/OCC-1", Some(occ()))
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let (status, body) = api
        .call(ACME_KEY, "PUT", "/v1/learners/X1", Some(ana()))
        .await;
    assert!(status == 200 || status == 201, "{body}");
    let cases: &[(&str, &str, Option<Value>, &str)] = &[
        // Moodle-only routes, given the CourseKey connection.
        (
            "GET",
            "/v1/connections/coursekey-main/results",
            None,
            "connection",
        ),
        (
            "GET",
            "/v1/connections/coursekey-main/completions",
            None,
            "connection",
        ),
        (
            "POST",
            "/v1/connections/coursekey-main/results/process",
            None,
            "connection",
        ),
        (
            "GET",
            "/v1/connections/coursekey-main/categories",
            None,
            "links.connection",
        ),
        (
            "GET",
            "/v1/offerings/OCC-1/links/coursekey-main/activities",
            None,
            "connection",
        ),
        (
            "GET",
            "/v1/offerings/OCC-1/mappings/coursekey-main",
            None,
            "connection",
        ),
        (
            "PUT",
            "/v1/learners/X1/accounts/coursekey-main",
            Some(json!({"moodle_user_id": 5})),
            "connection_id",
        ),
        (
            "POST",
            "/v1/offerings/OCC-1/links",
            Some(json!({"connection": "coursekey-main", "course_id": 2})),
            "links.connection",
        ),
        (
            "GET",
            "/v1/offerings/OCC-1/transfer-preview?connection=coursekey-main",
            None,
            "connection",
        ),
        // CourseKey-only, given a Moodle connection.
        (
            "GET",
            "/v1/connections/moodle-main/coursekey/errors",
            None,
            "connection",
        ),
        // SMS-only.
        (
            "GET",
            "/v1/deliveries?connection=moodle-main",
            None,
            "connection",
        ),
        // LLN-only.
        (
            "GET",
            "/v1/lln/connections/moodle-main/log",
            None,
            "connection",
        ),
        (
            "PUT",
            "/v1/lln/connections/moodle-main/logging",
            Some(json!({"enabled": true})),
            "connection",
        ),
        (
            "GET",
            "/v1/lln/assessments?connection=moodle-main",
            None,
            "connection",
        ),
        (
            "POST",
            "/v1/lln/downloads",
            Some(json!({"connection": "moodle-main"})),
            "connection",
        ),
    ];
    // Every route, wired as the api's main wires them.
    let app = api::app(api.state.clone());
    let call = |method: &str, path: &str, body: Option<Value>| {
        let app = app.clone();
        let request = request(ACME_KEY, method, path, body);
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    for (method, path, body, field) in cases {
        let (status, answer) = call(method, path, body.clone()).await;
        assert_eq!(status, 422, "{method} {path}: {answer}");
        assert_error(status, &answer, 422, Some(field));
    }
    // An unknown connection is a 404 naming it.
    for path in [
        "/v1/connections/nope/results",
        "/v1/deliveries?connection=nope",
    ] {
        let (status, body) = call("GET", path, None).await;
        assert_error(status, &body, 404, Some("connection"));
    }
}
