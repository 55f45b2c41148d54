use leptos::prelude::*;

use crate::components::scroll_region::ScrollRegion;
use crate::components::server_error::ServerError;
use crate::server_fns::admin::{dead_evaluations, RetryEvaluation};

/// Evaluations that ran out of retries, with their last error: retry
/// each where it stopped.
#[component]
pub fn DeadEvaluations() -> impl IntoView {
    let retry = ServerAction::<RetryEvaluation>::new();
    let dead = Resource::new(move || retry.version().get(), |_| dead_evaluations());
    view! {
        <section class="wallet-box" data-testid="dead-evaluations">
            <h2>"Stopped evaluations"</h2>
            <ServerError result=retry.value() />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match dead.await {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"Every evaluation is running or done."</p> }.into_any(),
                        Ok(list) => view! {
                            <ScrollRegion label="Evaluations">
                                <table class="components">
                                    <thead><tr><th>"Work"</th><th>"Last error"</th><th></th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|dead| {
                                            let id = dead.submission.id.clone();
                                            view! {
                                                <tr data-testid="dead-evaluation">
                                                    <td><a href=format!("/s/{id}")>{dead.submission.title}</a></td>
                                                    <td>{dead.last_error.unwrap_or_default()}</td>
                                                    <td>
                                                        <button type="button" data-testid="retry-evaluation"
                                                            on:click=move |_| { retry.dispatch(RetryEvaluation { id: id.clone() }); }>
                                                            "Retry"
                                                        </button>
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </ScrollRegion>
                        }.into_any(),
                        Err(err) => view! { <p class="error" role="alert" data-code=err.code.as_str()>{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
