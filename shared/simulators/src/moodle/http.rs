//! The HTTP side: PHP's request variables, the switches' faults and delays around
//! each answer, `server.php` and `login/token.php`.

use super::*;

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.starts_with("application/x-www-form-urlencoded")
        })
}

/// `$_GET` + `$_POST` as PHP builds them (each limited by `max_input_vars`).
fn request_vars(
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    max: usize,
) -> Vec<(String, String)> {
    let mut pairs = decode_pairs(query.unwrap_or_default().as_bytes(), max);
    if is_form(headers) {
        let post = decode_pairs(body, max);
        // array_merge($_GET, $_POST): POST wins for the same top-level name.
        let top = |k: &str| k.split('[').next().unwrap_or(k).to_owned();
        let post_names: Vec<String> = post.iter().map(|(k, _)| top(k)).collect();
        pairs.retain(|(k, _)| !post_names.contains(&top(k)));
        pairs.extend(post);
    }
    pairs
}

const UNAVAILABLE: &str = "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">\n<html><head>\n<title>503 Service Unavailable</title>\n</head><body>\n<h1>Service Unavailable</h1>\n<p>The server is temporarily unable to service your\nrequest due to maintenance downtime or capacity\nproblems. Please try again later.</p>\n</body></html>\n";

/// Latency and transient errors, before anything is done.
async fn before(sim: &MoodleSim, sw: &Switches) -> Option<Response> {
    if !sw.latency.is_zero() {
        tokio::time::sleep(sw.latency).await;
    }
    if sim.fault(sw.error_rate, Fault::Unavailable) {
        return Some(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/html; charset=iso-8859-1")],
                UNAVAILABLE,
            )
                .into_response(),
        );
    }
    None
}

/// Hangs and truncated answers, after the work is done.
async fn after(
    sim: &MoodleSim,
    sw: &Switches,
    hang: Duration,
    content_type: &'static str,
    body: String,
) -> Response {
    if sim.fault(sw.timeout_rate, Fault::Hang) {
        tokio::time::sleep(hang).await;
    }
    let body = if sim.fault(sw.malformed_rate, Fault::Malformed) {
        let mut cut = body.len() / 2;
        while cut > 0 && !body.is_char_boundary(cut) {
            cut -= 1;
        }
        body[..cut].to_owned()
    } else {
        body
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

pub(super) async fn rest(
    State(sim): State<MoodleSim>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (sw, hang, debug) = {
        let inner = sim.lock();
        (inner.switches.clone(), inner.hang, inner.state.site.debug)
    };
    let pairs = request_vars(query.as_deref(), &headers, &body, sw.max_input_vars);
    let tree = build_tree(&pairs);
    let scalar = |name: &str| {
        tree.iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| match v {
                PhpValue::Str(s) => Some(s.clone()),
                PhpValue::Arr(_) => None,
            })
    };
    let function = scalar("wsfunction").unwrap_or_default();
    let token = scalar("wstoken").unwrap_or_default();
    let json_format = scalar("moodlewsrestformat").as_deref() == Some("json");
    sim.log(
        &function,
        pairs
            .iter()
            .filter(|(k, _)| !META.contains(&k.as_str()))
            .cloned()
            .collect(),
    );
    if let Some(r) = before(&sim, &sw).await {
        return r;
    }
    let params: Vec<(String, PhpValue)> = tree
        .into_iter()
        .filter(|(k, _)| !META.contains(&k.as_str()))
        .collect();
    let result = sim.run(&token, &function, &params);
    if json_format {
        let value = match result {
            Ok(v) => v,
            Err(e) => e.to_json(debug),
        };
        after(&sim, &sw, hang, "application/json", value.to_string()).await
    } else {
        let body = match result {
            Ok(mut v) => {
                if function == "core_webservice_get_site_info"
                    && let Value::Object(map) = &mut v
                {
                    // The XML answer lists this optional key; JSON leaves it out.
                    map.insert("usersessionscount".into(), Value::Null);
                }
                xml::response(&v)
            }
            Err(e) => xml::exception(&e, debug),
        };
        after(&sim, &sw, hang, "application/xml; charset=utf-8", body).await
    }
}

/// Every request, counted while it is answered.
pub(super) async fn count_in_flight(
    State(sim): State<MoodleSim>,
    request: Request,
    next: Next,
) -> Response {
    let _counted = sim.in_flight.enter();
    next.run(request).await
}

fn token_error(errorcode: &str, message: &str) -> String {
    json!({
        "error": message,
        "errorcode": errorcode,
        "stacktrace": null,
        "debuginfo": null,
        "reproductionlink": null,
    })
    .to_string()
}

pub(super) async fn token_php(
    State(sim): State<MoodleSim>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (sw, hang) = {
        let inner = sim.lock();
        (inner.switches.clone(), inner.hang)
    };
    let pairs = request_vars(query.as_deref(), &headers, &body, sw.max_input_vars);
    let field = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    sim.log(
        "login/token.php",
        pairs
            .iter()
            .filter(|(k, _)| k != "password")
            .cloned()
            .collect(),
    );
    if let Some(r) = before(&sim, &sw).await {
        return r;
    }
    let mut missing = None;
    for name in ["username", "password", "service"] {
        if field(name).is_none_or(|v| v.is_empty()) && missing.is_none() {
            missing = Some(name);
        }
    }
    let body = match missing {
        Some(name) => token_error(
            "missingparam",
            &format!("A required parameter ({name}) was missing"),
        ),
        None => {
            let username = field("username").unwrap_or_default().trim().to_lowercase();
            let password = field("password").unwrap_or_default();
            let service = field("service").unwrap_or_default();
            // privatetoken is only given over https to users who are not site admins: the
            // simulator speaks plain http.
            match sim.login(&username, &password, &service) {
                Ok(token) => json!({"token": token, "privatetoken": null}).to_string(),
                Err((code, message)) => token_error(code, &message),
            }
        }
    };
    after(&sim, &sw, hang, "application/json", body).await
}
