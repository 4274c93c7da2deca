//! The OpenAPI 3 document, generated from the handlers' annotations and the
//! request and response types, served at `GET /openapi.json`; and the routes
//! of the SMS and admin resources.

use crate::AppState;
use crate::{connections, enrolments, handler, learners, linking, links, offerings, preview};
use axum::Json;
use axum::Router;
use axum::routing::{get, post, put};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "learnbridge API",
        description = "The SMS's learners, offerings and enrolments, and the admin's connections, links and transfers. Every /v1 route needs a tenant API key: `Authorization: Bearer <key>`. Every error is JSON `{error, field, message}`.",
    ),
    paths(
        handler::health,
        handler::list_connections,
        handler::get_connection,
        handler::get_run,
        connections::create_connection,
        connections::patch_connection,
        connections::put_connection,
        connections::disable_connection,
        connections::enable_connection,
        connections::get_secret,
        connections::put_secret,
        connections::test_connection,
        learners::put_learner,
        learners::patch_learner,
        learners::get_learner,
        offerings::put_offering,
        offerings::patch_offering,
        offerings::get_offering,
        enrolments::put_enrolment,
        enrolments::patch_enrolment,
        enrolments::get_enrolment,
        enrolments::list_enrolments,
        enrolments::learner_enrolments,
        links::list_links,
        linking::link_offering,
        linking::list_categories,
        linking::remove_enrolment,
        linking::link_account,
        crate::runs::start_run,
        crate::runs::history,
        crate::runs::stop_run,
        crate::runs::offering_history,
        crate::settings::get_settings,
        crate::settings::put_settings,
        crate::api_keys::list_api_keys,
        crate::api_keys::revoke_api_key,
        crate::deliveries::list_deliveries,
        crate::deliveries::get_delivery,
        crate::deliveries::resend_delivery,
        crate::deliveries::cancel_delivery,
        crate::coursekey::get_coursekey,
        crate::coursekey::put_coursekey,
        crate::coursekey::list_attendance,
        crate::coursekey::list_rejected_records,
        crate::coursekey::get_programme_course,
        crate::coursekey::put_programme_course,
        links::start_transfer,
        links::list_transfers,
        preview::transfer_preview,
        crate::mappings::list_activities,
        crate::mappings::list_mappings,
        crate::mappings::map_assessable,
        crate::mappings::unmap_assessable,
        crate::results::list_results,
        crate::results::adjust_result,
        crate::results::process_result,
        crate::results::process_all,
        crate::results::list_completions,
        crate::results::adjust_completion,
        crate::results::process_completion,
        crate::lln::create_candidate,
        crate::lln::get_candidate,
        crate::lln::push_candidate,
        crate::lln::bulk_changes,
        crate::lln::bulk_push,
        crate::lln::start_download,
        crate::lln::get_download,
        crate::lln::save_download,
        crate::lln::cancel_download,
        crate::lln::list_assessments,
        crate::lln::get_assessment,
        crate::lln::patch_assessment,
        crate::lln::assessment_report,
        crate::lln::put_logging,
        crate::lln::get_log,
        crate::lln::download_log,
        crate::lln::summary,
        crate::lln::history,
    ),
    modifiers(&ApiKeyAuth, &ErrorsAndIds),
    tags(
        (name = "connections", description = "Configured links to Moodle, OCSAT, CourseKey and the SMS"),
        (name = "learners", description = "People in the SMS, by their code"),
        (name = "offerings", description = "Scheduled deliveries with their assessables"),
        (name = "enrolments", description = "A learner in an offering"),
        (name = "links", description = "Offerings linked to courses, and their transfer"),
        (name = "results", description = "Activities mapped to assessables, and results under review"),
        (name = "runs", description = "Runs started by hand, and stopping a download"),
        (name = "settings", description = "The tenant's run history retention and run-error email"),
        (name = "deliveries", description = "Messages to the SMS: every attempt, resend, cancel"),
        (name = "coursekey", description = "Offerings sent to CourseKey, and their attendance"),
        (name = "lln", description = "OCSAT / LLN Robot: candidates, assessment downloads, saved assessments, API log and reports"),
    )
)]
pub struct ApiDoc;

/// The `api_key` bearer scheme the /v1 operations name.
struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A tenant API key (create the first with `learnbridge-local create-api-key`)",
                    ))
                    .build(),
            ),
        );
    }
}

/// What a path id may be (`domain::ids`): 1 to 64 of `A-Z a-z 0-9 . _ -`,
/// not dots only.
pub const ID_PATTERN: &str = "^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$";

/// Every error status an operation can answer, each with the JSON error body
/// (`ErrorBody`), and the id pattern on every path parameter. The statuses the
/// routes share are added here, from where they come from, so no handler's
/// annotation can forget one:
/// - every `/v1` operation: 401 (no or unknown key), 403 (a revoked key), 500
///   and 503 (the store failed, or is busy or stalled: try again);
/// - with a path id, a query or a body: 400 (an id, a query parameter or a
///   body field that cannot be read) and 422 (a value out of range, or a
///   connection of the wrong kind);
/// - with a path id, a `?connection=`, or an LLN body: 404 (no such record
///   for this tenant);
/// - with a body: 413 (over 1 MiB) and 415 (not JSON).
///
/// - every write: 409 (`If-Match` no longer matches, the record exists, or
///   its state does not allow the change);
/// - every `/v1` operation: 409 `unreadable` (a stored record it needs, such
///   as the tenant's settings or a connection, does not decode; `field` names
///   it and `message` says how to repair it);
/// - what calls Moodle or the LLN tool (results, links, LLN, categories): 502.
///
/// The handlers' own annotations say more about when (their description wins).
struct ErrorsAndIds;

impl ErrorsAndIds {
    fn error(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build()
            .into()
    }

    fn id_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(64))
            .pattern(Some(ID_PATTERN))
            .into()
    }
}

impl Modify for ErrorsAndIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        for (path, item) in openapi.paths.paths.iter_mut() {
            let v1 = path.starts_with("/v1/");
            for (write, op) in [
                (false, &mut item.get),
                (true, &mut item.put),
                (true, &mut item.post),
                (true, &mut item.delete),
                (true, &mut item.patch),
            ]
            .into_iter()
            .filter_map(|(write, op)| op.as_mut().map(|op| (write, op)))
            {
                let mut has_path = false;
                let mut has_query = false;
                let mut names_a_connection = false;
                for p in op.parameters.iter_mut().flatten() {
                    match p.parameter_in {
                        ParameterIn::Path => {
                            has_path = true;
                            p.schema = Some(Self::id_schema());
                        }
                        ParameterIn::Query => {
                            has_query = true;
                            names_a_connection |= p.name == "connection";
                        }
                        _ => {}
                    }
                }
                if !v1 {
                    continue;
                }
                let has_body = op.request_body.is_some();
                let external = op
                    .tags
                    .iter()
                    .flatten()
                    .any(|t| matches!(t.as_str(), "results" | "links" | "lln"))
                    || path.ends_with("/categories");
                let mut add = |status: &str, description: &str| {
                    op.responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| Self::error(description));
                };
                if has_path || has_query || has_body {
                    add(
                        "400",
                        "A path id, query parameter or body field that cannot be read (`field` names it)",
                    );
                    add(
                        "422",
                        "A value out of range, or a connection of the wrong kind (`field` names it)",
                    );
                }
                add("401", "No API key, or an unknown one");
                if write {
                    add(
                        "403",
                        "A revoked API key, or (`role`) a viewer key: viewer keys read only, every change needs an admin key",
                    );
                } else {
                    add("403", "A revoked API key");
                }
                // A record named in the path, by `?connection=`, or in an LLN
                // body (a learner, a connection) may not exist.
                if has_path || names_a_connection || (has_body && path.starts_with("/v1/lln/")) {
                    add("404", "No such record for this tenant");
                }
                if has_body {
                    add("413", "The body is over 1 MiB");
                    add(
                        "415",
                        "The body is not JSON (`Content-Type: application/json`)",
                    );
                }
                if write {
                    add(
                        "409",
                        "The record changed since it was read (`If-Match`), exists already, or is in a state that does not allow this; or (`unreadable`) a stored record this needs cannot be read: `field` names it, `message` says what is wrong and how to repair it",
                    );
                } else {
                    add(
                        "409",
                        "`unreadable`: a stored record this needs (the tenant's settings, a connection) cannot be read: `field` names it, `message` says what is wrong and how to repair it",
                    );
                }
                if external {
                    add(
                        "502",
                        "Moodle or the LLN tool refused the call; test the connection",
                    );
                }
                add("500", "The request could not be completed");
                add(
                    "503",
                    "The store is busy or did not answer in time; try again shortly",
                );
            }
        }
    }
}

/// The API's OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

/// The resource routes under `/v1`, added to `router` (the caller adds authentication).
pub fn routes(router: Router<AppState>) -> Router<AppState> {
    router
        .route("/v1/connections", post(connections::create_connection))
        .route(
            "/v1/connections/{connection}",
            axum::routing::patch(connections::patch_connection).put(connections::put_connection),
        )
        .route(
            "/v1/connections/{connection}/disable",
            post(connections::disable_connection),
        )
        .route(
            "/v1/connections/{connection}/enable",
            post(connections::enable_connection),
        )
        .route(
            "/v1/connections/{connection}/secret",
            get(connections::get_secret).put(connections::put_secret),
        )
        .route(
            "/v1/connections/{connection}/test",
            post(connections::test_connection),
        )
        .route(
            "/v1/learners/{code}",
            put(learners::put_learner)
                .patch(learners::patch_learner)
                .get(learners::get_learner),
        )
        .route(
            "/v1/learners/{code}/enrolments",
            get(enrolments::learner_enrolments),
        )
        .route(
            "/v1/learners/{code}/accounts/{connection}",
            put(linking::link_account),
        )
        .route(
            "/v1/offerings/{id}",
            put(offerings::put_offering)
                .patch(offerings::patch_offering)
                .get(offerings::get_offering),
        )
        .route(
            "/v1/offerings/{id}/enrolments",
            get(enrolments::list_enrolments),
        )
        .route(
            "/v1/offerings/{id}/enrolments/{code}",
            put(enrolments::put_enrolment)
                .patch(enrolments::patch_enrolment)
                .get(enrolments::get_enrolment),
        )
        .route(
            "/v1/offerings/{id}/links",
            get(links::list_links).post(linking::link_offering),
        )
        .route(
            "/v1/connections/{id}/runs",
            post(crate::runs::start_run).get(crate::runs::history),
        )
        .route(
            "/v1/connections/{id}/runs/{run}/stop",
            post(crate::runs::stop_run),
        )
        .route(
            "/v1/offerings/{id}/runs",
            get(crate::runs::offering_history),
        )
        .route(
            "/v1/offerings/{id}/enrolments/{code}/removal",
            post(linking::remove_enrolment),
        )
        .route(
            "/v1/connections/{id}/categories",
            get(linking::list_categories),
        )
        .route(
            "/v1/offerings/{id}/transfer-preview",
            get(preview::transfer_preview),
        )
        .route(
            "/v1/offerings/{id}/transfers",
            post(links::start_transfer).get(links::list_transfers),
        )
}
