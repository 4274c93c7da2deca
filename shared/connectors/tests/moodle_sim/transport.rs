//! Batches, retries, timeouts, concurrency, call counts and where the token travels.

use super::*;

// ------------------------------------------------------------------ batches, retries, limits

#[tokio::test]
async fn one_bad_user_in_250_is_isolated_and_the_rest_are_created() {
    let s = site().await;
    let mut users: Vec<NewUser> = (0..250).map(learner).collect();
    users[137].username = "occ.student1".into(); // taken
    let outcome = s.client.create_users(&users).await;
    assert_eq!(outcome.succeeded().count(), 249);
    let failed: Vec<_> = outcome.failed().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].0, 137);
    assert!(
        matches!(failed[0].1, MoodleError::InvalidParameter { .. }),
        "{:?}",
        failed[0].1
    );
    assert!(
        failed[0]
            .1
            .to_string()
            .contains("Moodle refused a parameter")
    );
    let calls = s.sim.call_count("core_user_create_users");
    eprintln!("one bad user in 250: {calls} core_user_create_users calls");
    assert!(
        calls <= 20,
        "bisecting one bad record in 250 took {calls} calls"
    );
    assert_eq!(s.client.call_count(WsFunction::CreateUsers), calls as u64);
    let created = s
        .client
        .users_by_field(
            UserField::Username,
            &["learner0249".into(), "learner0136".into()],
        )
        .await
        .unwrap();
    assert_eq!(created.len(), 2);
}

#[tokio::test]
async fn batches_respect_max_input_vars() {
    let s = site_with(|c| c.max_input_vars = 200).await;
    s.sim.set_switches(Switches {
        max_input_vars: 200,
        ..Default::default()
    });
    let users: Vec<NewUser> = (0..60).map(learner).collect();
    let outcome = s.client.create_users(&users).await;
    assert!(outcome.all_succeeded(), "{:?}", outcome.failed().next());
    for call in s
        .sim
        .calls()
        .iter()
        .filter(|c| c.function == "core_user_create_users")
    {
        assert!(
            call.params.len() + 3 <= 200,
            "{} fields sent",
            call.params.len() + 3
        );
    }
    let last = s
        .client
        .users(&[Criterion::new("idnumber", "LRN-0059")])
        .await
        .unwrap();
    assert_eq!(
        last.users[0].email.as_deref(),
        Some("learner0059@example.com"),
        "no field was dropped"
    );
}

#[tokio::test]
async fn chunks_follow_the_batch_size() {
    let s = site_with(|c| c.batch_size = 10).await;
    let outcome = s
        .client
        .create_users(&(0..35).map(learner).collect::<Vec<_>>())
        .await;
    assert!(outcome.all_succeeded());
    assert_eq!(s.sim.call_count("core_user_create_users"), 4);
}

#[tokio::test]
async fn transient_503s_are_retried() {
    let s = site_with(|c| c.retry.max_retries = 8).await;
    s.sim.set_switches(Switches {
        error_rate: 0.3,
        ..Default::default()
    });
    for _ in 0..20 {
        s.client.site_info().await.unwrap();
    }
    assert!(s.sim.call_count("core_webservice_get_site_info") > 20);
    assert_eq!(
        s.client.call_count(WsFunction::GetSiteInfo),
        s.sim.call_count("core_webservice_get_site_info") as u64
    );

    // Always down: a few quick attempts, then a retryable error for the queue.
    s.sim.clear_calls();
    s.sim.set_switches(Switches {
        error_rate: 1.0,
        ..Default::default()
    });
    let started = Instant::now();
    let e = s.client.site_info().await.unwrap_err();
    assert!(
        matches!(e, MoodleError::Http { status: 503 }) && e.is_retryable(),
        "{e:?}"
    );
    assert_eq!(s.sim.call_count("core_webservice_get_site_info"), 9);
    assert!(started.elapsed() < Duration::from_secs(5));

    // A 503 means nothing ran: even a create is sent again.
    s.sim.clear_calls();
    let outcome = s.client.create_users(&[learner(1)]).await;
    assert!(matches!(
        only_error(&outcome),
        MoodleError::Http { status: 503 }
    ));
    assert_eq!(s.sim.call_count("core_user_create_users"), 9);
}

#[tokio::test]
async fn retries_are_bounded_in_time() {
    let s = site_with(|c| {
        c.retry = RetryPolicy {
            max_retries: 100,
            min_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(50),
            max_elapsed: Duration::from_millis(300),
        }
    })
    .await;
    s.sim.set_switches(Switches {
        error_rate: 1.0,
        ..Default::default()
    });
    let started = Instant::now();
    assert!(s.client.site_info().await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(s.sim.call_count("core_webservice_get_site_info") < 20);
}

#[tokio::test]
async fn timeouts_are_retried_for_reads_but_not_for_creates() {
    let s = site_with(|c| {
        c.timeout = Duration::from_millis(300);
        c.retry.max_retries = 2;
    })
    .await;
    s.sim.set_hang(Duration::from_secs(3));
    s.sim.set_switches(Switches {
        timeout_rate: 1.0,
        ..Default::default()
    });
    let e = s.client.courses(&[]).await.unwrap_err();
    assert!(
        matches!(e, MoodleError::Timeout { .. }) && e.is_retryable(),
        "{e:?}"
    );
    assert_eq!(s.sim.call_count("core_course_get_courses"), 3);

    let user = learner(42);
    let outcome = s.client.create_users(std::slice::from_ref(&user)).await;
    let e = only_error(&outcome);
    assert!(
        matches!(e, MoodleError::Timeout { .. }) && e.is_retryable(),
        "{e:?}"
    );
    assert_eq!(
        s.sim.call_count("core_user_create_users"),
        1,
        "a create that may have run is not sent again"
    );

    // It did run: the caller's next attempt finds the user instead of creating it twice.
    s.sim.set_switches(Switches::default());
    let found = s
        .client
        .users_by_field(UserField::Username, std::slice::from_ref(&user.username))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
}

#[tokio::test]
async fn truncated_answers_are_retried() {
    let s = site().await;
    s.sim.set_switches(Switches {
        malformed_rate: 1.0,
        ..Default::default()
    });
    let e = s
        .client
        .enrolled_users(MoodleCourseId(2), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e, MoodleError::Malformed { .. }) && e.is_retryable(),
        "{e:?}"
    );
    assert_eq!(s.sim.call_count("core_enrol_get_enrolled_users"), 4);
    s.sim.set_switches(Switches {
        malformed_rate: 0.2,
        ..Default::default()
    });
    let s2 = client_with(&s.server.base_url, SAMPLE_TOKEN, |c| {
        c.retry.max_retries = 10
    });
    for _ in 0..10 {
        assert_eq!(
            s2.enrolled_users(MoodleCourseId(2), &[])
                .await
                .unwrap()
                .len(),
            4
        );
    }
}

#[tokio::test]
async fn concurrency_per_site_is_bounded() {
    let s = site_with(|c| c.max_concurrency = 2).await;
    s.sim.set_switches(Switches {
        latency: Duration::from_millis(150),
        ..Default::default()
    });
    let started = Instant::now();
    let calls = (0..6).map(|_| s.client.site_info());
    for r in futures::future::join_all(calls).await {
        r.unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(440),
        "6 calls, 2 at a time, 150 ms each: {:?}",
        started.elapsed()
    );

    let wide = client_with(&s.server.base_url, SAMPLE_TOKEN, |c| c.max_concurrency = 6);
    let started = Instant::now();
    futures::future::join_all((0..6).map(|_| wide.site_info())).await;
    assert!(started.elapsed() < Duration::from_millis(440));
}

#[tokio::test]
async fn calls_are_counted_per_function() {
    let s = site().await;
    s.client.site_info().await.unwrap();
    s.client.site_info().await.unwrap();
    s.client.courses(&[]).await.unwrap();
    let counts = s.client.call_counts();
    assert_eq!(counts.get("core_webservice_get_site_info"), Some(&2));
    assert_eq!(counts.get("core_course_get_courses"), Some(&1));
    assert_eq!(counts.len(), 2);
}

#[tokio::test]
async fn the_token_travels_only_in_a_post_body() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/moodle", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&request).contains("moodlewsrestformat=json") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        let body = r#"{"sitename":"S","username":"u","userid":2,"siteurl":"x","functions":[],"release":"4.3","version":"1"}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(answer.as_bytes()).await.unwrap();
        String::from_utf8(request).unwrap()
    });
    let client = client_with(&base, "s3cr3t-token-value", |_| {});
    client.site_info().await.unwrap();
    let request = server.await.unwrap();
    let request_line = request.lines().next().unwrap();
    assert_eq!(
        request_line,
        "POST /moodle/webservice/rest/server.php HTTP/1.1"
    );
    assert!(
        request
            .to_ascii_lowercase()
            .contains("content-type: application/x-www-form-urlencoded")
    );
    let body = request.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(
        body,
        "wstoken=s3cr3t-token-value&wsfunction=core_webservice_get_site_info&moodlewsrestformat=json"
    );
}
