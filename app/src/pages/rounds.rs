use leptos::prelude::*;
use leptos_meta::Title;
use meritree_core::claims::format_token_units;

use crate::components::scroll_region::ScrollRegion;
use crate::components::time::utc_minutes;
use crate::server_fns::rounds::{list_rounds, PublicRound};

/// `/rounds`: every settlement round, its root and status, and its public
/// export (what `meritree verify-round` checks against the chain).
#[component]
pub fn RoundsPage() -> impl IntoView {
    let rounds = Resource::new(|| (), |_| list_rounds());
    view! {
        <Title text="Rounds" />
        <section class="rounds">
            <h1>"Settlement rounds"</h1>
            <p class="muted">"At each round's close, points become claimable tokens: the Merkle root of every wallet's total is published on chain."</p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match rounds.await {
                        Ok(rounds) => view! { <RoundTable rounds /> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn RoundTable(rounds: Vec<PublicRound>) -> impl IntoView {
    if rounds.is_empty() {
        return view! { <p class="muted">"No round has started yet."</p> }.into_any();
    }
    view! {
        <ScrollRegion label="Rounds">
            <table class="components">
                <thead>
                    <tr>
                        <th>"Round"</th><th>"Period"</th><th>"Status"</th><th>"Wallets"</th>
                        <th>"Total (MRT)"</th><th>"Root"</th><th>"Published in"</th><th></th>
                    </tr>
                </thead>
                <tbody>
                    {rounds.into_iter().map(|PublicRound { round, publish_tx_hash }| {
                        let export = format!("/api/v1/rounds/{}/export", round.number);
                        let has_tree = round.root.is_some();
                        view! {
                            <tr data-testid="round-row" data-round=round.number data-status=round.status.as_str()>
                                <td>{round.number}</td>
                                <td>{utc_minutes(round.starts_at)} " – " {utc_minutes(round.ends_at)}</td>
                                <td>{round.status.as_str()}</td>
                                <td>{round.leaf_count.map(|n| n.to_string()).unwrap_or_default()}</td>
                                <td>{round.total_amount.map(|t| format_token_units(&t, 18)).unwrap_or_default()}</td>
                                <td><code class="hash" data-testid="round-root">{round.root.unwrap_or_default()}</code></td>
                                <td><code class="hash" data-testid="round-publish-tx">{publish_tx_hash.unwrap_or_default()}</code></td>
                                <td>{has_tree.then(|| view! { <a href=export rel="external">"export (JSON)"</a> })}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
    .into_any()
}
