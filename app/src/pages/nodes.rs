//! `/nodes`: an operator's own nodes — status, reputation, tasks and the
//! points they earned — followed live.

use leptos::prelude::*;
use leptos_meta::Title;
use meritree_core::live::LiveEvent;

use super::network::NodeTable;
use crate::live::Live;
use crate::server_fns::compute::my_nodes;

#[component]
pub fn NodesPage() -> impl IntoView {
    let live = Live::get();
    let changes = live.changes(|event| matches!(event, LiveEvent::NodeStatus { .. }));
    let nodes = Resource::new(move || changes.get(), |_| my_nodes());
    view! {
        <Title text="Your nodes" />
        <section class="nodes">
            <h1>"Your nodes"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match nodes.await {
                        Ok(nodes) if nodes.is_empty() => view! {
                            <p class="muted">
                                "No nodes yet. With the node_operator role, create an API key with the "
                                <code>"node"</code> " scope (" <code>"POST /api/v1/user/api-keys"</code>
                                " with " <code>"\"scopes\": [\"node\"]"</code> ") and run "
                                <code>"meritree node --server <this site> --api-key <key>"</code> "."
                            </p>
                        }.into_any(),
                        Ok(nodes) => view! { <NodeTable nodes /> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}
