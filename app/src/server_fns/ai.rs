//! The AI playground: one prompt from a signed-in member, answered through
//! the same gateway, budgets and usage records as `/v1/chat/completions`.

use leptos::prelude::*;
use leptos::server_fn::codec::{StreamingText, TextStream};
use meritree_core::ai::Preference;

use super::error::AppError;

/// `POST /api/ai/playground`: the answer as it is generated, as
/// newline-delimited JSON [`PlaygroundEvent`](meritree_core::ai::PlaygroundEvent)s:
/// `started`, `text`…, then `finished` (tokens and cost) or `failed`.
/// Failures before the first output (budget spent, no model available) are
/// the function's error instead, with nothing streamed.
#[server(endpoint = "ai/playground", output = StreamingText)]
pub async fn playground_chat(
    preference: Preference,
    prompt: String,
    #[server(default)] max_tokens: Option<u32>,
) -> Result<TextStream<AppError>, AppError> {
    use futures_util::stream::{self, StreamExt};
    use meritree_ai::{ChatRequest, Message, Role};
    use meritree_core::ai::{validate_max_tokens, validate_prompt, PlaygroundEvent};
    use meritree_core::ErrorCode;
    use meritree_platform::access::{ApiScope, AuthCheck};
    use meritree_platform::ai::{AiCaller, AnswerEvent};

    let invalid = |err: meritree_core::ai::PromptError| {
        AppError::new(ErrorCode::InvalidRequest, err.to_string())
    };
    validate_prompt(&prompt).map_err(invalid)?;
    validate_max_tokens(max_tokens).map_err(invalid)?;
    let (platform, me) = super::door::authorize(AuthCheck::scope(ApiScope::Ai)).await?;
    let request = ChatRequest {
        model: preference.as_str().to_owned(),
        messages: vec![Message::new(Role::User, prompt)],
        max_tokens,
        temperature: None,
        stream: true,
        ..Default::default()
    };
    let answer = platform
        .ai()
        .chat_stream(&AiCaller::from(&me), preference.as_str(), request)
        .await?;
    let started = PlaygroundEvent::Started {
        provider: answer.provider.clone(),
        model: answer.model.clone(),
    };
    let rest = answer.events().map(|event| match event {
        AnswerEvent::Text(text) => PlaygroundEvent::Text { text },
        AnswerEvent::Finished {
            usage, cost_nanos, ..
        } => PlaygroundEvent::Finished {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cost_nanos,
        },
        AnswerEvent::Failed { code, message } => PlaygroundEvent::Failed { code, message },
    });
    let lines = stream::once(async move { started })
        .chain(rest)
        .map(|event| Ok::<_, AppError>(event.to_line()));
    Ok(TextStream::new(lines))
}

/// `POST /api/ai/spending`: what the account's AI requests used this UTC
/// month, and every budget on the account and its keys.
#[server(endpoint = "ai/spending")]
pub async fn ai_spending() -> Result<meritree_core::ai::AiSpending, AppError> {
    use meritree_platform::access::AuthCheck;

    let (platform, me) = super::door::authorize(AuthCheck::read()).await?;
    Ok(platform.ai().spending(&me.account_id).await?)
}
