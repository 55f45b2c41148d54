//! Submitted work over HTTP: submitting (a session or a key with the
//! `submit` scope), reading a work, a round's entries and leaderboard, a
//! member's page, search, and the moderators' routes.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use meritree_core::submissions::image::{self, ImageError, ImageView};
use meritree_core::submissions::{
    CompetitionView, DeadEvaluation, EarnerView, EntryView, NewSubmission, ProfileView,
    SearchResults, SubmissionId, SubmissionView,
};
use meritree_core::ErrorCode;
use meritree_platform::access::{ApiScope, AuthCheck};
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
        .routes({
            // A little over the limit is read whole, so the service's own
            // check answers it; far over it, the connection is cut.
            let (schemas, paths, method) = routes!(upload_image);
            let limit = DefaultBodyLimit::max(image::MAX_BYTES + 64 * 1024);
            (schemas, paths, method.layer(limit))
        })
        .routes(routes!(get_submission))
        .routes(routes!(round_entries))
        .routes(routes!(round_leaderboard))
        .routes(routes!(all_time))
        .routes(routes!(profile))
        .routes(routes!(search))
        .routes(routes!(review_queue))
        .routes(routes!(moderate))
        .routes(routes!(dead_letters))
        .routes(routes!(retry_evaluation))
        .routes(routes!(set_theme))
}

/// `POST /api/v1/submissions` (a session, or a key with `submit`):
/// `{title, body, idempotency_key}` into the open round. 201 with the
/// submission; 200 with the same one when the key was used before.
#[utoipa::path(post, path = "/submissions", request_body = NewSubmission, responses((status = 201, description = "Created", body = SubmissionView), (status = 200, description = "Already created with this idempotency key", body = SubmissionView)))]
async fn submit(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(work): ApiJson<NewSubmission>,
) -> Result<(StatusCode, Json<SubmissionView>), ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::scope(ApiScope::Submit))
        .await?;
    let submitted = platform.submissions().submit(&me, &request, work).await?;
    let status = if submitted.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(submitted.submission)))
}

/// An uploaded picture's bytes, for the document.
#[allow(dead_code)] // a schema only: the handler reads the raw body
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
struct ImageFile(Vec<u8>);

/// `POST /api/v1/images` (a session, or a key with `submit`): the file as
/// the body, its `Content-Type` one of `image/png`, `image/jpeg`,
/// `image/webp`; at most 5 MiB. 201 with the stored image, whose `id` a
/// submission names; the same picture uploaded again is the same image.
#[utoipa::path(post, path = "/images", request_body(content((ImageFile = "image/png"), (ImageFile = "image/jpeg"), (ImageFile = "image/webp"))), responses((status = 201, body = ImageView)))]
async fn upload_image(
    State(platform): State<Platform>,
    Caller(request): Caller,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ImageView>), ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::scope(ApiScope::Submit))
        .await?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::ImageTooLarge, ImageError::TooLarge.to_string())
        }
        _ => ApiError::new(ErrorCode::InvalidRequest, rejection.body_text()),
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let stored = platform
        .submissions()
        .upload_image(&me, content_type, body.to_vec())
        .await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// `GET /api/v1/submissions/{id}`: the work, its stages and its reward.
/// Held or removed work shows its text only to its author and admins.
#[utoipa::path(get, path = "/submissions/{id}", params(("id" = String, Path)), responses((status = 200, body = SubmissionView)))]
async fn get_submission(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<SubmissionId>,
) -> Result<Json<SubmissionView>, ApiError> {
    let viewer = platform.optional_caller(&request).await;
    Ok(Json(
        platform.submissions().get_as(&id, viewer.as_ref()).await?,
    ))
}

/// `GET /api/v1/rounds/{n}/entries`: the round's theme, pool, rule and
/// entries (oldest first).
#[utoipa::path(get, path = "/rounds/{n}/entries", params(("n" = i64, Path)), responses((status = 200, body = CompetitionView)))]
async fn round_entries(
    State(platform): State<Platform>,
    number: Result<Path<i64>, PathRejection>,
) -> Result<Json<CompetitionView>, ApiError> {
    Ok(Json(
        platform.competitions().view(round_number(number)?).await?,
    ))
}

/// `GET /api/v1/rounds/{n}/leaderboard`: the round's scored entries, best
/// first.
#[utoipa::path(get, path = "/rounds/{n}/leaderboard", params(("n" = i64, Path)), responses((status = 200, body = [EntryView])))]
async fn round_leaderboard(
    State(platform): State<Platform>,
    number: Result<Path<i64>, PathRejection>,
) -> Result<Json<Vec<EntryView>>, ApiError> {
    Ok(Json(
        platform
            .competitions()
            .leaderboard(round_number(number)?)
            .await?,
    ))
}

/// `GET /api/v1/leaderboard`: members by points earned from pools.
#[utoipa::path(get, path = "/leaderboard", responses((status = 200, body = [EarnerView])))]
async fn all_time(State(platform): State<Platform>) -> Result<Json<Vec<EarnerView>>, ApiError> {
    Ok(Json(platform.submissions().top_earners().await?))
}

/// `GET /api/v1/members/{handle}`: a member's published work and earnings.
#[utoipa::path(get, path = "/members/{handle}", params(("handle" = String, Path)), responses((status = 200, body = ProfileView)))]
async fn profile(
    State(platform): State<Platform>,
    Path(handle): Path<String>,
) -> Result<Json<ProfileView>, ApiError> {
    Ok(Json(platform.submissions().profile(&handle).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: String,
    #[serde(default)]
    offset: u32,
}

/// `GET /api/v1/search?q=&offset=`: scored work matching the words, best
/// first, 20 a page; snippets mark matches between U+0002 and U+0003.
#[utoipa::path(get, path = "/search", params(SearchQuery), responses((status = 200, body = SearchResults)))]
async fn search(
    State(platform): State<Platform>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<SearchResults>, ApiError> {
    let Query(query) =
        query.map_err(|r| ApiError::new(ErrorCode::InvalidRequest, r.body_text()))?;
    Ok(Json(
        platform
            .submissions()
            .search(&query.q, query.offset)
            .await?,
    ))
}

/// `GET /api/v1/admin/review` (admin): work held for a moderator.
#[utoipa::path(get, path = "/admin/review", responses((status = 200, body = [SubmissionView])))]
async fn review_queue(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<Vec<SubmissionView>>, ApiError> {
    platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(platform.submissions().review_queue().await?))
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct Decision {
    approve: bool,
    reason: Option<String>,
}

/// `POST /api/v1/admin/review/{id}` (admin): `{approve, reason}`; a
/// rejection needs a reason, which the author sees.
#[utoipa::path(post, path = "/admin/review/{id}", params(("id" = String, Path)), request_body = Decision, responses((status = 200, body = SubmissionView)))]
async fn moderate(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<SubmissionId>,
    ApiJson(decision): ApiJson<Decision>,
) -> Result<Json<SubmissionView>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(
        platform
            .submissions()
            .moderate(
                &me.account_id,
                &id,
                decision.approve,
                decision.reason.as_deref(),
            )
            .await?,
    ))
}

/// `GET /api/v1/admin/evaluations/dead` (admin): evaluations that ran out
/// of retries, with their last error.
#[utoipa::path(get, path = "/admin/evaluations/dead", responses((status = 200, body = [DeadEvaluation])))]
async fn dead_letters(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<Vec<DeadEvaluation>>, ApiError> {
    platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(platform.submissions().dead_letters().await?))
}

/// `POST /api/v1/admin/evaluations/{id}/retry` (admin): requeues a dead
/// evaluation where it stopped. 204.
#[utoipa::path(post, path = "/admin/evaluations/{id}/retry", params(("id" = String, Path)), responses((status = 204)))]
async fn retry_evaluation(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<SubmissionId>,
) -> Result<StatusCode, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    platform
        .submissions()
        .retry_evaluation(&me.account_id, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
struct Theme {
    theme: String,
}

/// `PUT /api/v1/admin/rounds/{n}/theme` (admin): `{theme}` for round `n`,
/// ahead of time or while it runs. 204.
#[utoipa::path(put, path = "/admin/rounds/{n}/theme", params(("n" = i64, Path)), request_body = Theme, responses((status = 204)))]
async fn set_theme(
    State(platform): State<Platform>,
    Caller(request): Caller,
    number: Result<Path<i64>, PathRejection>,
    ApiJson(body): ApiJson<Theme>,
) -> Result<StatusCode, ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    platform
        .competitions()
        .set_theme(&me.account_id, round_number(number)?, &body.theme)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn round_number(number: Result<Path<i64>, PathRejection>) -> Result<i64, ApiError> {
    super::rounds::round_number(number)
}
