//! AI tasks for the compute network: submitting (a session or a key with
//! `submit`), following and cancelling them; and a node's result over HTTP
//! (a key with `node`), for nodes that do not send it on their socket.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use meritree_core::compute::{NewTask, NodeId, TaskId, TaskOutput, TaskView};
use meritree_platform::access::{ApiScope, AuthCheck};
use meritree_platform::compute::NodeReport;
use meritree_platform::Platform;
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(submit))
        .routes(routes!(get_task))
        .routes(routes!(cancel))
        .routes(routes!(report))
}

/// `POST /api/v1/tasks/submit`: `{input, idempotency_key}`. 201 with the
/// pending task; 200 with the same task when the key was used before.
#[utoipa::path(post, path = "/tasks/submit", request_body = NewTask, responses((status = 201, description = "Created", body = TaskView), (status = 200, description = "Already created with this idempotency key", body = TaskView)))]
async fn submit(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(task): ApiJson<NewTask>,
) -> Result<(StatusCode, Json<TaskView>), ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::scope(ApiScope::Submit))
        .await?;
    let submitted = platform.compute().submit(&me, task).await?;
    let status = if submitted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(submitted.task)))
}

/// `GET /api/v1/tasks/{id}`: the caller's task, its status and result.
#[utoipa::path(get, path = "/tasks/{id}", params(("id" = String, Path)), responses((status = 200, body = TaskView)))]
async fn get_task(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<TaskId>,
) -> Result<Json<TaskView>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    Ok(Json(platform.compute().get(&me, &id).await?))
}

/// `POST /api/v1/tasks/{id}/cancel`: cancels the caller's task unless it
/// completed or failed (409 `task_finished`); cancelling again is harmless.
#[utoipa::path(post, path = "/tasks/{id}/cancel", params(("id" = String, Path)), responses((status = 200, body = TaskView)))]
async fn cancel(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<TaskId>,
) -> Result<Json<TaskView>, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::scope(ApiScope::Submit))
        .await?;
    Ok(Json(platform.compute().cancel(&me, &id).await?))
}

/// A node's report on a task it holds.
#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    node_id: NodeId,
    lease: u64,
    #[serde(default)]
    output: Option<TaskOutput>,
    #[serde(default)]
    error: Option<String>,
}

/// `POST /api/v1/tasks/{id}/result` (a key with `node`, of the node's
/// operator): `{node_id, lease, output}` or `{node_id, lease, error}`.
/// 409 `lease_lost` when the node no longer holds the task; sending the
/// same result again is harmless.
#[utoipa::path(post, path = "/tasks/{id}/result", params(("id" = String, Path)), request_body = Report, responses((status = 204)))]
async fn report(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<TaskId>,
    ApiJson(report): ApiJson<Report>,
) -> Result<StatusCode, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::scope(ApiScope::Node))
        .await?;
    let outcome = match (report.output, report.error) {
        (Some(output), None) => NodeReport::Completed(output),
        (None, Some(reason)) => NodeReport::Failed(reason),
        _ => {
            return Err(ApiError::new(
                meritree_core::ErrorCode::InvalidRequest,
                "send either output or error",
            ))
        }
    };
    platform
        .compute()
        .report(&me, &report.node_id, &id, report.lease, outcome)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
