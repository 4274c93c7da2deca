//! What the sample events in `events/` refer to, made in a local stack
//! (`learnbridge-local seed-samples`), and the webhook samples signed now
//! (`learnbridge-local sign`), so every sample runs under `cargo lambda watch`
//! against a fresh stack as it runs in the handler tests.

use crate::runner::LocalSystem;
use anyhow::{Context, bail};
use axum::body::Body;
use chrono::{DateTime, Utc};
use domain::delivery::{DeliveryKey, DeliveryKind};
use domain::ports::{ApiKeyStore, ConnectionStore, SecretSource};
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use http_body_util::BodyExt;
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The API key the `events/api` samples send (`Authorization: Bearer ...`).
pub const SAMPLE_API_KEY: &str = "lb_fixture_key_acme_0123456789abcdef0123456789abcdef";
/// The tenant every sample names.
pub const SAMPLE_TENANT: &str = "acme";

/// Where the connections the samples name point, and their secrets. The defaults
/// are those of `cargo run -p simulators` (its `--help`), on the ports the README gives.
#[derive(Debug, Clone, clap::Args)]
pub struct SampleSystems {
    /// The Moodle the `moodle-main` connection calls.
    #[arg(long, default_value = "http://127.0.0.1:9101")]
    pub moodle_url: String,
    /// Its web service token (the simulator's sample site token by default).
    #[arg(long, default_value = simulators::moodle::SAMPLE_TOKEN)]
    pub moodle_token: String,
    /// The SMS the `sms` connection delivers results to.
    #[arg(long, default_value = "http://127.0.0.1:9102")]
    pub sms_url: String,
    /// The secret the SMS checks delivery signatures with (the simulator's `--sms-secret`).
    #[arg(long, default_value = "whsec_sms_simulator")]
    pub sms_secret: String,
    /// The CourseKey the `coursekey-main` connection pushes rosters to.
    #[arg(long, default_value = "http://127.0.0.1:9103")]
    pub coursekey_url: String,
    /// Its API key, which is also the key CourseKey's webhooks are signed with
    /// (the simulator's `--coursekey-api-key`).
    #[arg(long, default_value = "ck_simulator_key")]
    pub coursekey_secret: String,
}

/// The delivery `events/retry-worker/sqs-batch.json` names.
pub fn sample_delivery_key() -> anyhow::Result<DeliveryKey> {
    Ok(DeliveryKey {
        tenant: TenantId::parse(SAMPLE_TENANT)?,
        learner: LearnerCode::parse("L001")?,
        offering: OfferingId::parse("OFF-1")?,
        assessable: Some(AssessableId::parse("U1")?),
        kind: DeliveryKind::Result,
    })
}

/// Makes what the samples refer to; idempotent. Returns one line per thing,
/// saying whether it was made or already there.
pub async fn seed(system: &LocalSystem, systems: &SampleSystems) -> anyhow::Result<Vec<String>> {
    let mut made = Vec::new();
    let stores = system.stores();
    let tenant = TenantId::parse(SAMPLE_TENANT)?;
    let now = Utc::now();

    // The samples' API key, hashed with this stack's pepper as create-api-key does.
    let pepper_name = system
        .config
        .api_key_pepper_secret
        .as_deref()
        .context("the stack names no API key pepper secret")?;
    let pepper = stores.secrets.get(pepper_name).await?;
    let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), SAMPLE_API_KEY);
    let written = stores
        .api_keys
        .save_key(&hash, &tenant, "events/ samples", now)
        .await?;
    made.push(format!(
        "API key {SAMPLE_API_KEY} for tenant {tenant}: {}",
        if written == domain::ports::Written::Done {
            "made"
        } else {
            "already there"
        }
    ));

    let api = Api {
        router: system.api_router().await?,
    };
    for (id, kind, name, url, secret, settings) in [
        (
            "moodle-main",
            "moodle",
            "Acme Moodle (samples)",
            systems.moodle_url.clone(),
            systems.moodle_token.clone(),
            json!({}),
        ),
        (
            "coursekey-main",
            "course_key",
            "Acme CourseKey (samples)",
            systems.coursekey_url.clone(),
            systems.coursekey_secret.clone(),
            json!({}),
        ),
        (
            "sms",
            "sms",
            "Acme SMS (samples)",
            format!("{}/learnbridge", systems.sms_url.trim_end_matches('/')),
            systems.sms_secret.clone(),
            json!({"format": "json_webhook"}),
        ),
    ] {
        let (status, body) = api
            .call(
                "POST",
                "/v1/connections",
                Some(
                    json!({"id": id, "kind": kind, "name": name, "base_url": url,
                            "error_email": "integration-admin@example.com",
                            "settings": settings, "secret": secret}),
                ),
            )
            .await?;
        let what = match status {
            201 | 200 => "made",
            409 => {
                // There already: pointed at the given URL and secret again.
                api.ok(
                    "PATCH",
                    &format!("/v1/connections/{id}"),
                    Some(json!({"base_url": url})),
                )
                .await?;
                api.ok(
                    "PUT",
                    &format!("/v1/connections/{id}/secret"),
                    Some(json!({"secret": secret})),
                )
                .await?;
                "already there (URL and secret set again)"
            }
            _ => bail!("POST /v1/connections ({id}) answered {status}: {body}"),
        };
        made.push(format!(
            "connection {tenant}/{id} ({kind}) at {url}: {what}"
        ));
    }

    // The SMS's records the push, results and webhook samples name.
    api.ok(
        "PUT",
        "/v1/learners/X1234567",
        Some(
            json!({"username": "ana.ruiz", "given_name": "Ana", "family_name": "Ruiz",
                    "email": "ana.ruiz@example.com", "date_of_birth": "1990-04-01"}),
        ),
    )
    .await?;
    made.push("learner X1234567 (Ana Ruiz)".to_owned());
    // The offering's dates are days in the tenant's zone (UTC until set).
    let settings = api.ok("GET", "/v1/settings", None).await?;
    let zone = settings["time_zone"]
        .as_str()
        .map(domain::zone::TenantZone::parse)
        .transpose()
        .context("the tenant's time zone")?
        .unwrap_or_default();
    let today = zone.today(now);
    api.ok(
        "PUT",
        "/v1/offerings/OCC-1001",
        Some(json!({"name": "Certificate III in Acceptance",
                    "start_date": today - chrono::Duration::days(7),
                    "end_date": today + chrono::Duration::days(60), "status": "active",
                    "assessables": [{"id": "U1", "name": "Unit 1", "kind": "unit"}]})),
    )
    .await?;
    made.push("offering OCC-1001 with assessable U1".to_owned());
    api.ok(
        "PUT",
        "/v1/offerings/OCC-1001/enrolments/X1234567",
        Some(json!({"start_date": today - chrono::Duration::days(7)})),
    )
    .await?;
    made.push("enrolment of X1234567 in OCC-1001".to_owned());
    let (status, body) = api
        .call("GET", "/v1/offerings/OCC-1001/links", None)
        .await?;
    let linked = status == 200
        && body
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["connection"] == "moodle-main");
    if linked {
        made.push("OCC-1001 linked on moodle-main: already there".to_owned());
    } else {
        let link = api
            .ok(
                "POST",
                "/v1/offerings/OCC-1001/links",
                Some(json!({"connection": "moodle-main"})),
            )
            .await
            .with_context(|| {
                format!(
                    "linking OCC-1001 needs the Moodle at {} (start the simulators first)",
                    systems.moodle_url
                )
            })?;
        made.push(format!(
            "OCC-1001 linked to Moodle course {} on moodle-main",
            link["course_id"]
        ));
    }
    let class_start = (today - chrono::Duration::days(1))
        .and_hms_opt(9, 0, 0)
        .context("a class time")?
        .and_utc();
    api.ok(
        "PUT",
        "/v1/offerings/OCC-1001/coursekey",
        Some(json!({"send_to_coursekey": true, "instructors": ["INS-1"],
                    "classes": [{"code": "C1", "start": class_start,
                                 "end": class_start + chrono::Duration::hours(3)}]})),
    )
    .await?;
    made.push("OCC-1001 marked for CourseKey (class C1)".to_owned());

    // The delivery the retry-worker sample sends.
    let key = sample_delivery_key()?;
    let created = app::deliveries::create_delivery(
        &stores.deliveries,
        &stores.queue,
        &key,
        &ConnectionId::parse("sms")?,
        json!({"grade": "Competent", "completed_on": today}),
        now,
    )
    .await?;
    made.push(format!(
        "delivery {} ({}): {}",
        key.delivery_id(),
        key.idempotency_key(),
        match created {
            app::deliveries::Created::New(_) => "made",
            _ => "already there",
        }
    ));
    Ok(made)
}

/// The api function's Router, called as API Gateway calls it, with the samples' key.
struct Api {
    router: axum::Router,
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {SAMPLE_API_KEY}"))
            .header("content-type", "application/json")
            .body(Body::from(body.map(|b| b.to_string()).unwrap_or_default()))?;
        let response = self.router.clone().oneshot(request).await?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, answer) = self.call(method, path, body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path} answered {status}: {answer}");
        }
        Ok(answer)
    }
}

/// A CourseKey webhook sample (API Gateway v2 request), signed at `now` with the
/// stored secret of the connection its path names, as CourseKey signs:
/// HMAC over `"{timestamp}.{tenant}/{connection}.{body}"`.
///
/// With `body_of`, the signature is made over that other sample's body while this
/// sample's own body is kept: a fresh, valid signature over a different body, which
/// is what a request tampered with in transit looks like.
pub async fn sign(
    connections: &dyn ConnectionStore,
    secrets: &dyn SecretSource,
    secret_prefix: &str,
    event: &str,
    body_of: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<Value> {
    let mut event: Value = serde_json::from_str(event).context("the sample is not JSON")?;
    let param = |event: &Value, name: &str| {
        event["pathParameters"][name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("the sample has no pathParameters.{name}"))
    };
    let tenant = TenantId::parse(param(&event, "tenant")?)?;
    let connection_id = ConnectionId::parse(param(&event, "connection")?)?;
    let signed_body = match body_of {
        Some(other) => {
            let other: Value =
                serde_json::from_str(other).context("the --body-of sample is not JSON")?;
            body(&other)?
        }
        None => body(&event)?,
    };
    let connection = connections
        .connection(&tenant, &connection_id)
        .await?
        .with_context(|| {
            format!("tenant {tenant} has no connection {connection_id} (seed-samples makes it)")
        })?;
    let secret = secrets
        .secret(&connection.secret_name(secret_prefix))
        .await
        .with_context(|| format!("the secret of connection {tenant}/{connection_id}"))?;
    let timestamp = now.timestamp();
    let signature = connectors::signature::sign_route(
        secret.expose_secret().as_bytes(),
        timestamp,
        &connectors::signature::webhook_route(tenant.as_str(), connection_id.as_str()),
        signed_body.as_bytes(),
    );
    let headers = event["headers"]
        .as_object_mut()
        .context("the sample has no headers")?;
    headers.insert(
        connectors::signature::TIMESTAMP_HEADER.to_owned(),
        Value::String(timestamp.to_string()),
    );
    headers.insert(
        connectors::signature::SIGNATURE_HEADER.to_owned(),
        Value::String(signature),
    );
    if let Some(context) = event["requestContext"].as_object_mut() {
        context.insert("timeEpoch".to_owned(), json!(now.timestamp_millis()));
        context.insert(
            "time".to_owned(),
            json!(now.format("%d/%b/%Y:%H:%M:%S +0000").to_string()),
        );
    }
    Ok(event)
}

fn body(event: &Value) -> anyhow::Result<String> {
    if event["isBase64Encoded"].as_bool() == Some(true) {
        bail!("the sample's body is base64-encoded; sign takes plain bodies");
    }
    event["body"]
        .as_str()
        .map(str::to_owned)
        .context("the sample has no body")
}
