use leptos::prelude::*;
use meritree_core::submissions::SubmissionView;

use crate::components::server_error::ServerError;
use crate::components::time::utc_minutes;
use crate::server_fns::admin::{review_queue, Moderate};

/// Work held for a moderator: approve it, or reject it with a reason the
/// author sees.
#[component]
pub fn ModerationQueue() -> impl IntoView {
    let moderate = ServerAction::<Moderate>::new();
    let queue = Resource::new(move || moderate.version().get(), |_| review_queue());
    view! {
        <section class="wallet-box" data-testid="moderation">
            <h2>"Moderation queue"</h2>
            <ServerError result=moderate.value() />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match queue.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"Nothing is waiting."</p> }.into_any(),
                        Ok(list) => list.into_iter().map(|work| view! { <HeldWork work moderate /> }).collect_view().into_any(),
                        Err(err) => view! { <p class="error" role="alert" data-code=err.code.as_str()>{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn HeldWork(work: SubmissionView, moderate: ServerAction<Moderate>) -> impl IntoView {
    let id = work.id.to_string();
    let reason = RwSignal::new(String::new());
    let submission = StoredValue::new(work.id.clone());
    let decide = move |approve: bool| {
        moderate.dispatch(Moderate {
            id: submission.get_value(),
            approve,
            reason: Some(reason.get_untracked()),
        });
    };
    view! {
        <article class="held-work" data-testid="held-work">
            <h3><a href=format!("/s/{id}")>{work.title}</a></h3>
            <p class="muted">
                {work.author.map(|a| format!("@{a} · ")).unwrap_or_default()}
                {utc_minutes(work.created_at)}
                {work.reason.map(|r| format!(" · held: {r}")).unwrap_or_default()}
            </p>
            <div class="form">
                <label>
                    "Reason (shown to the author when rejected)"
                    <input type="text" maxlength="500" bind:value=reason data-testid="moderation-reason" />
                </label>
                <button type="button" data-testid="approve" on:click=move |_| decide(true)>"Approve"</button>
                <button type="button" data-testid="reject" on:click=move |_| decide(false)>"Reject"</button>
            </div>
        </article>
    }
}
