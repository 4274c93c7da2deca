//! Support for the end-to-end tests: a whole local system per test, on its own
//! uuid-named stack provisioned from the SAM template.

#![allow(clippy::expect_used, clippy::panic)]

use devstack::runner::LocalSystem;

pub mod browser;
pub mod faults;
pub mod graded;

pub use graded::{graded_course, moodle_main};

/// A local system on a fresh stack (tables, queues, secrets as the template declares them).
///
/// # Panics
/// When moto server is not configured (`AWS_ENDPOINT_URL`): an end-to-end test never skips.
pub async fn local_system() -> LocalSystem {
    local_system_with(|_| {}).await
}

/// As [`local_system`], with the functions' configuration (what their
/// environment would set) adjusted first.
///
/// # Panics
/// As [`local_system`].
pub async fn local_system_with(adjust: impl FnOnce(&mut cloud::Config)) -> LocalSystem {
    let sdk = cloud::testing::sdk().await;
    let stack = cloud::testing::unique_stack_name();
    let mut config =
        devstack::stack::provision(&sdk, &stack, Some(cloud::testing::TEST_MAIL_FROM), 90)
            .await
            .unwrap_or_else(|e| panic!("provisioning {stack} on moto: {}", cloud::error_chain(&e)));
    adjust(&mut config);
    // Each function runs with only its role's policy from infra/template.yaml.
    let role = |function: &'static str| cloud::testing::function_sdk(&sdk, &config, function);
    let functions = devstack::runner::FunctionSdks {
        nightly_sync: role("nightly-sync").await,
        enrolment_push: role("enrolment-push").await,
        results_fetch: role("results-fetch").await,
        coursekey_webhook: role("coursekey-webhook").await,
        retry_worker: role("retry-worker").await,
        api: role("api").await,
        console: role("console").await,
    };
    LocalSystem::with_functions(config, sdk, functions)
        .unwrap_or_else(|e| panic!("building the functions: {}", cloud::error_chain(&e)))
}

/// Serves a router on a free loopback port and returns its base URL.
pub async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

/// A learner to seed: code, given name, family name, email.
pub type SeedLearner<'a> = (&'a str, &'a str, &'a str, Option<&'a str>);

/// Seeds what a nightly Moodle run works on: the connection (with the Moodle
/// simulator's token as its secret), the offering "First aid" (February to March
/// 2027, active), each learner with a not-called enrolment, and the link of the
/// offering to `course_id`. Returns the offering's id.
///
/// # Panics
/// When moto refuses a write: a test's setup failing is a test failure.
pub async fn seed_moodle_offering(
    system: &LocalSystem,
    connection: &domain::Connection,
    offering: &str,
    course_id: i64,
    learners: &[SeedLearner<'_>],
) -> domain::OfferingId {
    use domain::ports::{ConnectionStore, LinkStore, SisStore};
    use domain::sis::{CourseLink, Enrolment, EnrolmentState, Learner, Offering, OfferingStatus};
    let stores = system.stores();
    let tenant = connection.tenant.clone();
    let offering = domain::OfferingId::parse(offering).expect("an offering id");
    let start = chrono::NaiveDate::from_ymd_opt(2027, 2, 1);
    let now = chrono::Utc::now();
    stores
        .connections
        .save_connection(connection)
        .await
        .expect("the connection");
    stores
        .secrets
        .put(
            &connection.secret_name(&system.config.secret_prefix),
            &secrecy::SecretString::from(simulators::moodle::SAMPLE_TOKEN),
        )
        .await
        .expect("the token");
    stores
        .sis
        .save_offering(&Offering {
            tenant: tenant.clone(),
            id: offering.clone(),
            name: "First aid".into(),
            start_date: start,
            end_date: chrono::NaiveDate::from_ymd_opt(2027, 3, 31),
            status: OfferingStatus::Active,
            auto_push: false,
            must_be_evaluated: false,
            assessables: vec![],
            updated_at: now,
        })
        .await
        .expect("the offering");
    for (code, given, family, email) in learners {
        let code = domain::LearnerCode::parse(*code).expect("a learner code");
        stores
            .sis
            .save_learner(&Learner {
                tenant: tenant.clone(),
                code: code.clone(),
                username: None,
                given_name: (*given).into(),
                middle_name: None,
                family_name: (*family).into(),
                email: email.map(str::to_owned),
                date_of_birth: None,
                archived: false,
                email_opt_out: true,
                updated_at: now,
            })
            .await
            .expect("the learner");
        stores
            .sis
            .save_enrolment(&Enrolment {
                tenant: tenant.clone(),
                learner: code,
                offering: offering.clone(),
                state: EnrolmentState::NotCalled,
                start_date: start,
                session_date: None,
                updated_at: now,
            })
            .await
            .expect("the enrolment");
    }
    stores
        .links
        .save_link(&CourseLink {
            tenant,
            offering: offering.clone(),
            connection: connection.id.clone(),
            course_id,
            course_idnumber: Some(offering.to_string()),
            course_shortname: Some(offering.to_string()),
            linked_at: now,
        })
        .await
        .expect("the link");
    offering
}

/// Issues an API key for `tenant` as the admin command does (only its hash,
/// under the stack's pepper, is stored) and returns the key.
///
/// # Panics
/// When the pepper cannot be read or the key cannot be saved.
pub async fn api_key(system: &LocalSystem, tenant: &domain::TenantId) -> String {
    api_key_as(system, tenant, "e2e", domain::ports::Role::Admin)
        .await
        .0
}

/// An API key for `tenant` acting with `role`, stored as the stack stores them
/// (only its keyed hash): the key and that hash.
///
/// # Panics
/// When the pepper cannot be read or the key cannot be saved.
pub async fn api_key_as(
    system: &LocalSystem,
    tenant: &domain::TenantId,
    label: &str,
    role: domain::ports::Role,
) -> (String, String) {
    use domain::ports::ApiKeyStore;
    use secrecy::ExposeSecret;
    let stores = system.stores();
    let pepper = stores
        .secrets
        .get(
            system
                .config
                .api_key_pepper_secret
                .as_deref()
                .expect("the stack's pepper secret"),
        )
        .await
        .expect("the pepper");
    let key = devstack::new_api_key();
    let hash = app::auth::hash_api_key(pepper.expose_secret().as_bytes(), &key);
    stores
        .api_keys
        .save_key_as(&hash, tenant, label, role, chrono::Utc::now())
        .await
        .expect("the API key saved");
    (key, hash)
}

/// A DynamoDB string attribute.
pub fn s(v: &str) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned())
}

/// Writes an item as it is, past the stores (a record an older version or a
/// person left behind).
///
/// # Panics
/// When DynamoDB refuses the write.
pub async fn put_raw(
    sdk: &aws_config::SdkConfig,
    table: &str,
    item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
) {
    aws_sdk_dynamodb::Client::new(sdk)
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .expect("the raw item written");
}
