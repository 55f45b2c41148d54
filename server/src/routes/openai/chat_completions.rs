use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use meritree_platform::access::{ApiScope, AuthCheck};
use meritree_platform::ai::AiCaller;
use meritree_platform::Platform;

use super::stream::completion_events;
use super::wire::{Billing, ChatCompletion, ChatCompletionRequest};
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};

/// `POST /v1/chat/completions`: a chat completion in OpenAI's format; with
/// `stream: true`, server-sent `chat.completion.chunk` events ending in
/// `[DONE]` (usage in a last chunk when `stream_options.include_usage`).
/// Budgets are checked before anything is sent upstream (402
/// `budget_exceeded`); `cache_ttl_secs` opts into the exact-match cache.
#[utoipa::path(
    post,
    path = "/chat/completions",
    operation_id = "create_chat_completion",
    request_body = ChatCompletionRequest,
    responses((
        status = 200,
        description = "The completion; with `stream: true`, server-sent events of `chat.completion.chunk` objects ending in `[DONE]`",
        content(
            (ChatCompletion = "application/json"),
            (String = "text/event-stream"),
        ),
    )),
)]
pub async fn create(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(body): ApiJson<ChatCompletionRequest>,
) -> Result<Response, ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::scope(ApiScope::Ai))
        .await?;
    let request = body.to_chat()?;
    let caller = AiCaller::from(&me);
    let created = meritree_platform::clock::unix_secs();
    if body.stream {
        let include_usage = body.stream_options.is_some_and(|o| o.include_usage);
        let answer = platform
            .ai()
            .chat_stream(&caller, &body.model, request)
            .await?;
        return Ok(completion_events(answer, created, include_usage));
    }
    let cache_ttl = body
        .cache_ttl_secs
        .filter(|&s| s > 0)
        .map(|s| Duration::from_secs(s.into()));
    let answer = platform
        .ai()
        .chat(&caller, &body.model, request, cache_ttl)
        .await?;
    let completion = ChatCompletion::new(
        format!("chatcmpl-{}", answer.request_id),
        created,
        format!("{}/{}", answer.provider, answer.model),
        answer.response,
        Billing {
            provider: answer.provider,
            cost_nanos: answer.cost_nanos,
            cached: answer.cached,
        },
    );
    Ok(Json(completion).into_response())
}
