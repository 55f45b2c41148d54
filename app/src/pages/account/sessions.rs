use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use meritree_core::accounts::SessionView;

use crate::components::scroll_region::ScrollRegion;
use crate::components::server_error::ServerError;
use crate::components::time::utc_minutes;
use crate::server_fns::sessions::{list_sessions, EndOtherSession, SignOutEverywhere};
use crate::session::Session;

/// The account's signed-in devices: sign one out, or all of them.
#[component]
pub fn Sessions() -> impl IntoView {
    let session = Session::get();
    let navigate = use_navigate();
    let end = ServerAction::<EndOtherSession>::new();
    let end_all = ServerAction::<SignOutEverywhere>::new();
    let sessions = Resource::new(move || end.version().get(), |_| list_sessions());
    Effect::new(move |_| {
        if matches!(end_all.value().get(), Some(Ok(()))) {
            session.reload();
            navigate("/", Default::default());
        }
    });
    view! {
        <section class="wallet-box" data-testid="sessions">
            <h2>"Where you are signed in"</h2>
            <ServerError result=end.value() />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match sessions.await {
                        Ok(list) => view! { <SessionTable list end /> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
            <ActionForm action=end_all>
                <button type="submit" data-testid="sign-out-everywhere">"Sign out everywhere"</button>
            </ActionForm>
            <ServerError result=end_all.value() />
        </section>
    }
}

#[component]
fn SessionTable(list: Vec<SessionView>, end: ServerAction<EndOtherSession>) -> impl IntoView {
    view! {
        <ScrollRegion label="Sessions">
            <table class="components">
                <thead><tr><th>"Device"</th><th>"Signed in"</th><th>"Last active"</th><th></th></tr></thead>
                <tbody>
                    {list.into_iter().map(|s| {
                        let id = s.id.clone();
                        view! {
                            <tr data-testid="session-row">
                                <td>{s.user_agent.unwrap_or_else(|| "unknown device".into())}</td>
                                <td>{utc_minutes(s.started_at)}</td>
                                <td>{utc_minutes(s.last_seen_at)}</td>
                                <td>
                                    {if s.current {
                                        view! { <span data-testid="current-session">"this device"</span> }.into_any()
                                    } else {
                                        view! {
                                            <button type="button" data-testid="end-session"
                                                on:click=move |_| { end.dispatch(EndOtherSession { id: id.clone() }); }>
                                                "Sign out"
                                            </button>
                                        }.into_any()
                                    }}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
}
