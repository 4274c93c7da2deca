//! Results under review: list a connection's by state, adjust one's type and
//! dates, process one or all (each becomes a delivery to the SMS). Tenant-scoped
//! like every `/v1` route.
//!
//! The results and mapping routes need the result store and the Moodle grade
//! sources ([`ResultsDeps`], a part of [`crate::AppState`]); [`crate::router::app`] merges them under
//! `/v1`, behind the same API key check.

use crate::Deps;
use crate::error::ApiError;
use crate::json::Query;
use app::results::{ResultRef, Results, ResultsError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Extension, Json, Router};
use domain::ports::{GradeSources, ResultStore, Retryable};
use domain::results::{Adjustment, ReviewState, StoredCompletion, StoredResult};
use domain::{AssessableId, ConnectionId, LearnerCode, OfferingId, TenantId};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Most results one list returns.
pub const MAX_LIMIT: usize = app::results::MAX_LIST;

/// What the results and mapping routes need beyond [`Deps`].
#[derive(Clone)]
pub struct ResultsDeps {
    pub results: Arc<dyn ResultStore>,
    /// Moodle grade sources per connection (settings + secret).
    pub grades: Arc<dyn GradeSources>,
}

/// The results and mapping routes under `/v1`, added to `router` (see [`crate::router::app`]).
pub fn routes(router: Router<crate::AppState>) -> Router<crate::AppState> {
    router
        .route("/v1/connections/{connection}/results", get(list_results))
        .route(
            "/v1/connections/{connection}/results/process",
            post(process_all),
        )
        .route(
            "/v1/offerings/{id}/results/{learner}/{assessable}",
            patch(adjust_result),
        )
        .route(
            "/v1/offerings/{id}/results/{learner}/{assessable}/process",
            post(process_result),
        )
        .route(
            "/v1/connections/{connection}/completions",
            get(list_completions),
        )
        .route(
            "/v1/offerings/{id}/completions/{learner}",
            patch(adjust_completion),
        )
        .route(
            "/v1/offerings/{id}/completions/{learner}/process",
            post(process_completion),
        )
}

/// The results use case over the deployment's ports (also the console's results
/// and mapping screens).
pub fn use_case<'a>(deps: &'a Deps, results: &'a ResultsDeps) -> Results<'a> {
    Results {
        connections: deps.connections.as_ref(),
        sis: deps.sis.as_ref(),
        links: deps.links.as_ref(),
        results: results.results.as_ref(),
        deliveries: deps.deliveries.as_ref(),
        queue: deps.queue.as_ref(),
        runs: deps.runs.as_ref(),
        tenants: deps.tenants.as_ref(),
    }
}

/// The API's answer to a results use case's error.
pub(crate) fn api_error(error: ResultsError) -> ApiError {
    match error {
        ResultsError::Store(e) => e.into(),
        ResultsError::BadId(e) => e.into(),
        e @ ResultsError::BadState { .. } => ApiError::bad_request("state", e.to_string()),
        ResultsError::Mapping(e) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unmappable",
            Some("activities"),
            e.to_string(),
        ),
        ResultsError::Review(e) => {
            ApiError::new(StatusCode::CONFLICT, "not_processable", None, e.to_string())
        }
        e @ (ResultsError::UnknownResult { .. }
        | ResultsError::UnknownCompletion { .. }
        | ResultsError::UnknownOffering { .. }
        | ResultsError::UnknownConnection { .. }
        | ResultsError::NotLinked { .. }) => ApiError::not_found("id", e.to_string()),
        e @ (ResultsError::NotMoodle { .. } | ResultsError::NoSms) => {
            ApiError::new(StatusCode::CONFLICT, "not_possible", None, e.to_string())
        }
        e => {
            tracing::error!(
                error = &e as &dyn std::error::Error,
                "results use case failed"
            );
            if e.is_retryable() {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    None,
                    "the learning system or the service is busy; try again shortly",
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "learning_system_refused",
                    None,
                    "the learning system refused the request; test the connection",
                )
            }
        }
    }
}

/// A result as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResultView {
    pub connection: String,
    pub offering: String,
    pub learner: String,
    pub assessable: String,
    /// `started`, `passed` or `failed`.
    #[schema(value_type = String)]
    pub result: domain::results::ResultType,
    #[schema(value_type = Option<String>, format = Date)]
    pub start_date: Option<chrono::NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub finish_date: Option<chrono::NaiveDate>,
    /// The raw grade (Moodle's grade, summed over the mapped activities).
    pub grade: Option<f64>,
    /// The maximum `grade` is out of.
    pub grade_max: Option<f64>,
    /// `ready`, `error` or `done`.
    #[schema(value_type = String)]
    pub state: ReviewState,
    /// Why it cannot be processed yet.
    pub error: Option<String>,
    /// What the result was before, oldest first: a started result saved to
    /// the SMS before this final one, or proposals replaced before anyone
    /// processed them (`delivered` false).
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<domain::results::PastResult>,
    /// Changed after delivery: a later attempt's different final result
    /// (`result`, `grade`, `grade_max`, `finish_date`, `seen_at`), shown
    /// beside the one the SMS has, never sent (first result wins).
    #[schema(value_type = Option<Object>)]
    pub changed_after_delivery: Option<domain::results::LaterAttempt>,
}

impl From<StoredResult> for ResultView {
    fn from(r: StoredResult) -> Self {
        Self {
            connection: r.connection.to_string(),
            offering: r.offering.to_string(),
            learner: r.learner.to_string(),
            assessable: r.assessable.to_string(),
            result: r.result,
            start_date: r.start_date,
            finish_date: r.finish_date,
            grade: r.grade,
            grade_max: r.grade_max,
            state: r.state,
            error: r.error,
            history: r.history,
            changed_after_delivery: r.later,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `ready` (default), `error` or `done`.
    pub state: Option<String>,
    pub limit: Option<usize>,
}

#[utoipa::path(get, path = "/v1/connections/{connection}/results", tag = "results", params(("connection" = String, Path), ListQuery), responses((status = 200, body = [ResultView]), (status = 400, body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list_results(
    State(deps): State<Deps>,
    State(results): State<ResultsDeps>,
    Extension(tenant): Extension<TenantId>,
    Path(connection): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<ResultView>>, ApiError> {
    let connection = moodle_connection_id(&deps, &tenant, connection).await?;
    let state = app::results::review_state(query.state.as_deref()).map_err(api_error)?;
    let limit = app::results::list_limit(query.limit);
    let found = use_case(&deps, &results)
        .list(&tenant, &connection, state, limit)
        .await
        .map_err(api_error)?;
    Ok(Json(found.into_iter().map(ResultView::from).collect()))
}

/// A Moodle connection of the tenant named in the path: 404 when there is none
/// by that id, 422 naming `connection` when it is of another kind (results and
/// completions come from Moodle).
async fn moodle_connection_id(
    deps: &Deps,
    tenant: &TenantId,
    connection: String,
) -> Result<ConnectionId, ApiError> {
    Ok(
        crate::links::moodle_connection(deps, tenant, "connection", Some(connection))
            .await?
            .id,
    )
}

fn result_ids(
    id: String,
    learner: String,
    assessable: String,
) -> Result<(OfferingId, LearnerCode, AssessableId), ApiError> {
    let r = ResultRef::parse(id, learner, assessable).map_err(api_error)?;
    Ok((r.offering, r.learner, r.assessable))
}

/// The type and dates a person may change; fields left out stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustBody {
    /// `started`, `passed` or `failed`.
    #[schema(value_type = Option<String>)]
    pub result: Option<domain::results::ResultType>,
    #[schema(value_type = Option<String>, format = Date)]
    pub start_date: Option<chrono::NaiveDate>,
    #[schema(value_type = Option<String>, format = Date)]
    pub finish_date: Option<chrono::NaiveDate>,
}

impl crate::json::Resource for AdjustBody {
    const NAME: &'static str = "results";
}

#[utoipa::path(patch, path = "/v1/offerings/{id}/results/{learner}/{assessable}", tag = "results", request_body = AdjustBody, responses((status = 200, body = ResultView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn adjust_result(
    State(deps): State<Deps>,
    State(results): State<ResultsDeps>,
    Extension(tenant): Extension<TenantId>,
    Path((id, learner, assessable)): Path<(String, String, String)>,
    crate::json::JsonBody(body): crate::json::JsonBody<AdjustBody>,
) -> Result<Json<ResultView>, ApiError> {
    let (offering, learner, assessable) = result_ids(id, learner, assessable)?;
    let change = Adjustment {
        result: body.result,
        start_date: body.start_date,
        finish_date: body.finish_date,
    };
    let result = use_case(&deps, &results)
        .adjust(
            &tenant,
            &offering,
            &learner,
            &assessable,
            &change,
            (deps.now)(),
        )
        .await
        .map_err(api_error)?;
    Ok(Json(result.into()))
}

#[utoipa::path(post, path = "/v1/offerings/{id}/results/{learner}/{assessable}/process", tag = "results", responses((status = 200, body = ResultView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn process_result(
    State(deps): State<Deps>,
    State(results): State<ResultsDeps>,
    Extension(tenant): Extension<TenantId>,
    Path((id, learner, assessable)): Path<(String, String, String)>,
) -> Result<Json<ResultView>, ApiError> {
    let (offering, learner, assessable) = result_ids(id, learner, assessable)?;
    let result = use_case(&deps, &results)
        .process(&tenant, &offering, &learner, &assessable, (deps.now)())
        .await
        .map_err(api_error)?;
    Ok(Json(result.into()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProcessedAll {
    /// Ready results saved (each now a delivery to the SMS).
    pub processed: usize,
    /// Ready course completions saved (each a delivery; the enrolment completed).
    pub completions: usize,
}

#[utoipa::path(post, path = "/v1/connections/{connection}/results/process", tag = "results", responses((status = 200, body = ProcessedAll), (status = 409, body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn process_all(
    State(deps): State<Deps>,
    State(results): State<ResultsDeps>,
    Extension(tenant): Extension<TenantId>,
    Path(connection): Path<String>,
) -> Result<Json<ProcessedAll>, ApiError> {
    let connection = moodle_connection_id(&deps, &tenant, connection).await?;
    let done = use_case(&deps, &results)
        .process_all(&tenant, &connection, (deps.now)())
        .await
        .map_err(api_error)?;
    Ok(Json(ProcessedAll {
        processed: done.results,
        completions: done.completions,
    }))
}

/// A course completion under review, as the API shows it (the seed's
/// "Course completions" tab).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompletionView {
    pub connection: String,
    pub offering: String,
    pub learner: String,
    /// When the latest completion criterion was met (a person may change the date).
    #[schema(value_type = String, format = DateTime)]
    pub completed_at: chrono::DateTime<chrono::Utc>,
    /// The course total grade, raw.
    pub grade: Option<f64>,
    /// The maximum `grade` is out of.
    pub grade_max: Option<f64>,
    /// Changed after delivery: a later course total (`grade`, `grade_max`,
    /// `seen_at`) beside the one the SMS has, never sent.
    #[schema(value_type = Option<Object>)]
    pub changed_after_delivery: Option<domain::results::LaterGrade>,
    /// Smartosh mode: attendance (and evaluation) recorded, then the learner is
    /// unenrolled from the Moodle course by the next download after processing.
    pub unenrol_after_completion: bool,
    /// `ready`, `error` or `done`.
    #[schema(value_type = String)]
    pub state: ReviewState,
    pub error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub unenrolled_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<StoredCompletion> for CompletionView {
    fn from(c: StoredCompletion) -> Self {
        Self {
            connection: c.connection.to_string(),
            offering: c.offering.to_string(),
            learner: c.learner.to_string(),
            completed_at: c.completed_at,
            grade: c.grade,
            grade_max: c.grade_max,
            changed_after_delivery: c.later_grade,
            unenrol_after_completion: c.smartosh,
            state: c.state,
            error: c.error,
            unenrolled_at: c.unenrolled_at,
        }
    }
}

#[utoipa::path(get, path = "/v1/connections/{connection}/completions", tag = "results", params(("connection" = String, Path), ListQuery), responses((status = 200, body = [CompletionView]), (status = 400, body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn list_completions(
    State(deps): State<Deps>,
    State(results): State<ResultsDeps>,
    Extension(tenant): Extension<TenantId>,
    Path(connection): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<CompletionView>>, ApiError> {
    let connection = moodle_connection_id(&deps, &tenant, connection).await?;
    let state = app::results::review_state(query.state.as_deref()).map_err(api_error)?;
    let limit = app::results::list_limit(query.limit);
    let found = use_case(&deps, &results)
        .list_completions(&tenant, &connection, state, limit)
        .await
        .map_err(api_error)?;
    Ok(Json(found.into_iter().map(CompletionView::from).collect()))
}

/// The completion's date as a person corrects it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustCompletionBody {
    #[schema(value_type = String, format = Date)]
    pub date: chrono::NaiveDate,
}

impl crate::json::Resource for AdjustCompletionBody {
    const NAME: &'static str = "completions";
}

#[utoipa::path(patch, path = "/v1/offerings/{id}/completions/{learner}", tag = "results", request_body = AdjustCompletionBody, responses((status = 200, body = CompletionView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn adjust_completion(
    State(deps): State<Deps>,
    State(results): State<ResultsDeps>,
    Extension(tenant): Extension<TenantId>,
    Path((id, learner)): Path<(String, String)>,
    crate::json::JsonBody(body): crate::json::JsonBody<AdjustCompletionBody>,
) -> Result<Json<CompletionView>, ApiError> {
    let (offering, learner) = (OfferingId::parse(id)?, LearnerCode::parse(learner)?);
    let completion = use_case(&deps, &results)
        .adjust_completion(&tenant, &offering, &learner, body.date, (deps.now)())
        .await
        .map_err(api_error)?;
    Ok(Json(completion.into()))
}

#[utoipa::path(post, path = "/v1/offerings/{id}/completions/{learner}/process", tag = "results", responses((status = 200, body = CompletionView), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)), security(("api_key" = [])))]
pub async fn process_completion(
    State(deps): State<Deps>,
    State(results): State<ResultsDeps>,
    Extension(tenant): Extension<TenantId>,
    Path((id, learner)): Path<(String, String)>,
) -> Result<Json<CompletionView>, ApiError> {
    let (offering, learner) = (OfferingId::parse(id)?, LearnerCode::parse(learner)?);
    let completion = use_case(&deps, &results)
        .process_completion(&tenant, &offering, &learner, (deps.now)())
        .await
        .map_err(api_error)?;
    Ok(Json(completion.into()))
}
