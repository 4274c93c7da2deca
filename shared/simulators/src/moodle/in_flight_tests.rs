#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;

#[test]
fn the_gauge_counts_requests_in_flight_and_keeps_the_most() {
    let gauge = InFlight::default();
    let a = gauge.enter();
    let b = gauge.enter();
    assert_eq!(gauge.now.load(Ordering::SeqCst), 2);
    drop(a);
    let c = gauge.enter();
    drop((b, c));
    assert_eq!(gauge.now.load(Ordering::SeqCst), 0);
    assert_eq!(gauge.max.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_site_counts_its_concurrent_http_requests() {
    let sim = MoodleSim::sample_site();
    let server = sim.start().await.unwrap();
    let http = reqwest::Client::new();
    let url = format!("{}/webservice/rest/server.php", server.base_url);
    let call = |function: &'static str| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            http.post(url)
                .form(&[
                    ("wstoken", SAMPLE_TOKEN),
                    ("wsfunction", function),
                    ("moodlewsrestformat", "json"),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(call("core_webservice_get_site_info").await, StatusCode::OK);
    assert_eq!((sim.in_flight(), sim.max_in_flight()), (0, 1));

    // Three requests held by latency are all in flight at once.
    sim.set_switches(Switches {
        latency: Duration::from_secs(3),
        ..Switches::default()
    });
    let calls = tokio::spawn(futures_join(vec![
        call("core_webservice_get_site_info"),
        call("core_webservice_get_site_info"),
        call("core_webservice_get_site_info"),
    ]));
    tokio::time::timeout(Duration::from_secs(60), async {
        while sim.in_flight() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("three requests in flight");
    assert!(calls.await.unwrap().iter().all(|s| *s == StatusCode::OK));
    assert_eq!((sim.in_flight(), sim.max_in_flight()), (0, 3));
    sim.reset_max_in_flight();
    assert_eq!(sim.max_in_flight(), 0);
}

/// Awaits every future (the crate has no `futures` dependency).
async fn futures_join<F: std::future::Future + Send + 'static>(all: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = all.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}
