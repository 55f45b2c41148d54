use leptos::prelude::*;

use crate::components::scroll_region::ScrollRegion;
use leptos_meta::{Meta, Title};
use leptos_router::components::A;
use meritree_core::live::LiveEvent;

use super::round::Standing;
use crate::live::Live;
use crate::server_fns::work::{round_standing, top_earners};

/// `/leaderboard`: this round's standing (live) and the members who earned
/// most, all time.
#[component]
pub fn LeaderboardPage() -> impl IntoView {
    let live = Live::get();
    // The board follows leaderboard changes in place (see `Standing`).
    let changes = live.changes(|event| matches!(event, LiveEvent::Round { .. }));
    let stale = RwSignal::new(0_u64);
    let current = Resource::new(
        move || (changes.get(), stale.get()),
        |_| round_standing(None),
    );
    let earners = Resource::new(move || changes.get(), |_| top_earners());
    view! {
        <Title text="Leaderboard" />
        <Meta name="description" content="This round's best work and the members who earned most." />
        <section class="leaderboard">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match current.await {
                        Ok(Some(standing)) => view! { <Standing standing stale /> }.into_any(),
                        Ok(None) => view! { <p class="muted">"No round is open right now."</p> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
            <h2>"All time"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match earners.await {
                        Ok(earners) if earners.is_empty() => view! { <p class="muted">"Nobody has earned from a pool yet."</p> }.into_any(),
                        Ok(earners) => view! {
                            <ScrollRegion label="All-time leaderboard">
                                <table class="components" data-testid="all-time">
                                    <thead><tr><th>"#"</th><th>"Member"</th><th>"Points earned"</th><th>"Paid entries"</th></tr></thead>
                                    <tbody>
                                        {earners.into_iter().enumerate().map(|(i, e)| view! {
                                            <tr>
                                                <td>{i + 1}</td>
                                                <td><A href=format!("/u/{}", e.handle)>"@" {e.handle.clone()}</A></td>
                                                <td>{e.earned}</td>
                                                <td>{e.entries}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </ScrollRegion>
                        }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
