use futures_util::future::{AbortHandle, Abortable};
use futures_util::StreamExt;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::components::A;
use meritree_core::ai::{
    format_nanodollars, parse_max_tokens, validate_prompt, EventLines, PlaygroundEvent, Preference,
    MAX_TOKENS_LIMIT, PROMPT_MAX_CHARS,
};
use meritree_core::ErrorCode;

use crate::server_fns::ai::playground_chat;
use crate::session::Session;

/// `/playground`: a member asks the AI gateway one question, choosing what
/// to optimise for, and watches the answer arrive token by token, then sees
/// who answered and what it cost (charged like any API request).
#[component]
pub fn PlaygroundPage() -> impl IntoView {
    let session = Session::get();
    view! {
        <Title text="AI playground" />
        <section class="playground">
            <h1>"AI playground"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match session.account.await {
                        Ok(Some(_)) => view! { <Playground /> }.into_any(),
                        Ok(None) => view! {
                            <p data-testid="signed-out">
                                "Sign in to try the AI gateway. " <A href="/sign-in">"Sign in"</A>
                            </p>
                        }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

/// Where an answer is: shown as the answer's `data-status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Streaming,
    Done,
    Failed,
    /// Stopped by the member; the text so far stays.
    Stopped,
}

impl Status {
    const fn as_str(self) -> &'static str {
        match self {
            Status::Streaming => "streaming",
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Totals {
    input_tokens: u64,
    output_tokens: u64,
    cost_nanos: u64,
}

/// The answer on screen. Written from a task that may outlive the page,
/// hence `try_` everywhere: once the page is gone, writes do nothing.
#[derive(Clone, Copy)]
struct Answer {
    status: RwSignal<Option<Status>>,
    text: RwSignal<String>,
    /// `provider/model`, once known.
    by: RwSignal<Option<String>>,
    totals: RwSignal<Option<Totals>>,
    error: RwSignal<Option<(ErrorCode, String)>>,
}

impl Answer {
    fn new() -> Self {
        Self {
            status: RwSignal::new(None),
            text: RwSignal::new(String::new()),
            by: RwSignal::new(None),
            totals: RwSignal::new(None),
            error: RwSignal::new(None),
        }
    }

    fn start(self) {
        self.text.set(String::new());
        self.by.set(None);
        self.totals.set(None);
        self.error.set(None);
        self.status.set(Some(Status::Streaming));
    }

    fn is_streaming(self) -> bool {
        self.status.try_get_untracked().flatten() == Some(Status::Streaming)
    }

    fn apply(self, event: PlaygroundEvent) {
        match event {
            PlaygroundEvent::Started { provider, model } => {
                let _ = self.by.try_set(Some(format!("{provider}/{model}")));
            }
            PlaygroundEvent::Text { text } => {
                let _ = self.text.try_update(|t| t.push_str(&text));
            }
            PlaygroundEvent::Finished {
                input_tokens,
                output_tokens,
                cost_nanos,
            } => {
                let _ = self.totals.try_set(Some(Totals {
                    input_tokens,
                    output_tokens,
                    cost_nanos,
                }));
                let _ = self.status.try_set(Some(Status::Done));
            }
            PlaygroundEvent::Failed { code, message } => self.fail(code, message),
        }
    }

    fn fail(self, code: ErrorCode, message: String) {
        let _ = self.error.try_set(Some((code, message)));
        let _ = self.status.try_set(Some(Status::Failed));
    }

    fn stopped(self) {
        if self.is_streaming() {
            let _ = self.status.try_set(Some(Status::Stopped));
        }
    }
}

/// Asks the server and applies its events as they arrive. The response is
/// newline-delimited JSON cut at arbitrary places by the network, so pieces
/// are joined back into lines before they are read.
async fn stream_answer(
    answer: Answer,
    preference: Preference,
    prompt: String,
    max_tokens: Option<u32>,
) {
    let stream = match playground_chat(preference, prompt, max_tokens).await {
        Ok(stream) => stream,
        Err(err) => return answer.fail(err.code, err.message),
    };
    let mut pieces = std::pin::pin!(stream.into_inner());
    let mut lines = EventLines::default();
    while let Some(piece) = pieces.next().await {
        match piece {
            Ok(piece) => lines.push(&piece).into_iter().for_each(|e| answer.apply(e)),
            Err(err) => return answer.fail(err.code, err.message),
        }
    }
    if answer.is_streaming() {
        answer.fail(
            ErrorCode::UpstreamUnavailable,
            "the answer stopped before its end".to_owned(),
        );
    }
}

#[component]
fn Playground() -> impl IntoView {
    let preference = RwSignal::new(Preference::default());
    let prompt = RwSignal::new(String::new());
    let max_tokens = RwSignal::new(String::new());
    let answer = Answer::new();
    // Stops the answer being streamed, if any.
    let abort = StoredValue::new(None::<AbortHandle>);
    let stop = move || abort.try_with_value(|h| h.as_ref().map(AbortHandle::abort));
    // Leaving the page ends the request (the server stops generating).
    on_cleanup(move || {
        stop();
    });

    // The server's rules, checked as the member types.
    let prompt_problem = move || {
        prompt.with(|p| {
            (!p.is_empty())
                .then(|| validate_prompt(p).err().map(|e| e.to_string()))
                .flatten()
        })
    };
    let max_tokens_problem =
        move || max_tokens.with(|m| parse_max_tokens(m).err().map(|e| e.to_string()));
    let streaming = move || answer.status.get() == Some(Status::Streaming);
    let cannot_send = move || {
        streaming()
            || prompt.with(|p| validate_prompt(p).is_err())
            || max_tokens.with(|m| parse_max_tokens(m).is_err())
    };

    let send = move || {
        let text = prompt.get_untracked();
        let Ok(limit) = max_tokens.with_untracked(|m| parse_max_tokens(m)) else {
            return;
        };
        if validate_prompt(&text).is_err() || answer.is_streaming() {
            return;
        }
        answer.start();
        let (handle, registration) = AbortHandle::new_pair();
        abort.set_value(Some(handle));
        let chosen = preference.get_untracked();
        spawn_local(async move {
            let run = stream_answer(answer, chosen, text, limit);
            if Abortable::new(run, registration).await.is_err() {
                answer.stopped();
            }
        });
    };

    view! {
        <form class="form playground-form" on:submit=move |ev| {
            ev.prevent_default();
            send();
        }>
            <fieldset class="preferences">
                <legend>"Optimise for"</legend>
                {Preference::ALL.into_iter().map(|p| view! {
                    <label class="preference">
                        <input type="radio" name="preference" value=p.as_str()
                            checked={p == Preference::default()}
                            data-testid=format!("preference-{}", p.as_str())
                            on:change=move |_| preference.set(p) />
                        {p.label()}
                    </label>
                }).collect_view()}
            </fieldset>
            <label>
                "Prompt"
                <textarea name="prompt" rows="5" required
                    placeholder=format!("Up to {PROMPT_MAX_CHARS} characters")
                    data-testid="playground-prompt"
                    on:input=move |ev| prompt.set(event_target_value(&ev))></textarea>
            </label>
            <p class="field-error" data-testid="prompt-error">{prompt_problem}</p>
            <label>
                "Max tokens (optional)"
                <input type="number" name="max_tokens" min="1" max=MAX_TOKENS_LIMIT.to_string()
                    inputmode="numeric"
                    on:input=move |ev| max_tokens.set(event_target_value(&ev)) />
            </label>
            <p class="field-error" data-testid="max-tokens-error">{max_tokens_problem}</p>
            <div class="playground-buttons">
                <button type="submit" data-testid="playground-send" disabled=cannot_send>
                    "Send"
                </button>
                <Show when=streaming>
                    <button type="button" class="secondary" data-testid="playground-stop"
                        on:click=move |_| { stop(); }>
                        "Stop"
                    </button>
                </Show>
            </div>
        </form>
        <Show when=move || streaming() && answer.text.with(String::is_empty)>
            <p class="muted" data-testid="playground-waiting">
                {move || match answer.by.get() {
                    Some(by) => format!("{by} is answering…"),
                    None => "Waiting for the first words (a local model may take a while to load)…".to_owned(),
                }}
            </p>
        </Show>
        <Show when=move || answer.status.with(Option::is_some)>
            <div class="playground-answer" data-testid="playground-answer" aria-live="polite"
                data-status=move || answer.status.get().map(Status::as_str).unwrap_or_default()>
                {move || answer.text.get()}
            </div>
        </Show>
        {move || answer.error.get().map(|(code, message)| view! {
            <p class="error" role="alert" data-testid="playground-error" data-code=code.as_str()>
                {message}
            </p>
        })}
        {move || answer.totals.get().map(|totals| view! {
            <p class="muted" data-testid="playground-summary">
                "Answered by " <code>{answer.by.get().unwrap_or_default()}</code>
                " · " {totals.input_tokens} " input tokens · "
                {totals.output_tokens} " output tokens · "
                {format_nanodollars(totals.cost_nanos)}
            </p>
        })}
        {move || (answer.status.get() == Some(Status::Stopped)).then(|| view! {
            <p class="muted" data-testid="playground-stopped">"Stopped."</p>
        })}
    }
}
