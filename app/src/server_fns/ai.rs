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
    use meritree_ai::{Candidate, ChatRequest, Message, ProviderError, Role, StreamEvent, Usage};
    use meritree_core::ai::{validate_max_tokens, validate_prompt, PlaygroundEvent};
    use meritree_core::ErrorCode;
    use meritree_platform::access::{ApiScope, AuthCheck};
    use meritree_platform::ai::AiCaller;

    let (platform, me) = super::door::authorize(AuthCheck::scope(ApiScope::Ai)).await?;
    let invalid = |err: meritree_core::ai::PromptError| {
        AppError::new(ErrorCode::InvalidRequest, err.to_string())
    };
    validate_prompt(&prompt).map_err(invalid)?;
    validate_max_tokens(max_tokens).map_err(invalid)?;

    let caller = AiCaller::from(&me);
    let request = ChatRequest {
        model: preference.as_str().to_owned(),
        messages: vec![Message::new(Role::User, prompt)],
        max_tokens,
        temperature: None,
        stream: true,
    };
    let answer = platform
        .ai_chat_stream(&caller, preference.as_str(), request)
        .await?;
    let price = platform
        .ai()?
        .price(&Candidate::new(&answer.provider, &answer.model));

    /// A stream that broke after its first output: too late to fail over.
    fn failed(error: ProviderError) -> PlaygroundEvent {
        PlaygroundEvent::Failed {
            code: match error {
                ProviderError::BadRequest(_) => ErrorCode::UpstreamRejected,
                _ => ErrorCode::UpstreamUnavailable,
            },
            message: error.to_string(),
        }
    }
    let started = PlaygroundEvent::Started {
        provider: answer.provider,
        model: answer.model,
    };
    // Each step owns the upstream stream and the latest usage; `None` once
    // the last event is out. Dropping it early (the member stopped, or went
    // away) drops the upstream stream, which records what was generated.
    let rest = stream::unfold(
        Some((answer.stream, Usage::default())),
        move |state| async move {
            let (mut upstream, mut usage) = state?;
            loop {
                let last = match upstream.next().await {
                    Some(Ok(StreamEvent::TextDelta { text })) => {
                        if text.is_empty() {
                            continue;
                        }
                        let line = PlaygroundEvent::Text { text }.to_line();
                        return Some((line, Some((upstream, usage))));
                    }
                    Some(Ok(StreamEvent::Usage { usage: latest })) => {
                        usage = latest;
                        continue;
                    }
                    Some(Ok(StreamEvent::Done { .. })) => PlaygroundEvent::Finished {
                        input_tokens: usage.input_tokens,
                        output_tokens: usage.output_tokens,
                        cost_nanos: price.cost_nanos(usage),
                    },
                    Some(Ok(StreamEvent::Error { error })) | Some(Err(error)) => failed(error),
                    None => failed(ProviderError::StreamBroken),
                };
                return Some((last.to_line(), None));
            }
        },
    );
    let lines = stream::once(async move { started.to_line() })
        .chain(rest)
        .map(Ok::<_, AppError>);
    Ok(TextStream::new(lines))
}

/// `POST /api/ai/spending`: what the account's AI requests used this UTC
/// month, and every budget on the account and its keys.
#[server(endpoint = "ai/spending")]
pub async fn ai_spending() -> Result<meritree_core::ai::AiSpending, AppError> {
    use meritree_platform::access::AuthCheck;
    use meritree_platform::ai::{AiError, BudgetPeriod};
    use meritree_platform::clock::unix_secs;

    let (platform, me) = super::door::authorize(AuthCheck::read()).await?;
    let now = unix_secs();
    let usage = platform
        .ai_usage_summary(&me.account_id, BudgetPeriod::Month.start(now))
        .await
        .map_err(AiError::from)?;
    let budgets = platform
        .ai_budget_statuses(&me.account_id, now)
        .await
        .map_err(AiError::from)?;
    Ok(meritree_core::ai::AiSpending { usage, budgets })
}
