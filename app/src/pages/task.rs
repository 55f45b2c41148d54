//! `/tasks/:id`: a member's AI task — its status, progress, the node
//! running it and its result — followed live.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use meritree_core::compute::{TaskOutput, TaskView};
use meritree_core::live::LiveEvent;

use crate::live::Live;
use crate::server_fns::compute::task;

#[component]
pub fn TaskPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").unwrap_or_default());
    let live = Live::get();
    let changes = live.changes(move |event| {
        matches!(event, LiveEvent::TaskUpdate { id: changed, .. } if changed.as_str() == id())
    });
    let loaded = Resource::new(move || (id(), changes.get()), |(id, _)| task(id));
    view! {
        <Title text="Task" />
        <section class="task">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match loaded.await {
                        Ok(task) => view! { <TaskDetails task /> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn TaskDetails(task: TaskView) -> impl IntoView {
    let result = match &task.output {
        Some(TaskOutput::Chat { text, .. }) => view! { <pre class="answer">{text.clone()}</pre> }.into_any(),
        Some(TaskOutput::Embeddings { vectors, .. }) => view! {
            <p>{format!("{} vectors of {} dimensions", vectors.len(), vectors.first().map_or(0, Vec::len))}</p>
        }.into_any(),
        None => ().into_any(),
    };
    view! {
        <h1>{format!("Task {}", task.id)}</h1>
        <dl class="figures">
            <div><dt>"Status"</dt><dd data-testid="task-status">{task.status.as_str()}</dd></div>
            <div><dt>"Model"</dt><dd>{task.model.clone()}</dd></div>
            <div><dt>"Progress"</dt><dd><progress max="100" value=task.progress.to_string()></progress></dd></div>
            <div><dt>"Node"</dt><dd>{task.node_id.map(|n| n.to_string()).unwrap_or_else(|| "—".into())}</dd></div>
            <div><dt>"Attempts failed"</dt><dd>{format!("{} of {}", task.failures, task.max_attempts)}</dd></div>
        </dl>
        {task.error.map(|e| view! { <p class="error">{e}</p> })}
        {result}
    }
}
