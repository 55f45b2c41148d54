//! `/network`: the compute network as anyone sees it — nodes online, tasks
//! waiting and running, and tasks completed per minute over the last hour
//! as a chart drawn on the server and redrawn as the figures arrive live.

use leptos::prelude::*;

use crate::components::scroll_region::ScrollRegion;
use leptos_meta::{Meta, Title};
use meritree_core::compute::{NetworkStats, NodeView};
use meritree_core::live::LiveEvent;

use crate::live::Live;
use crate::server_fns::compute::{network_figures, online_nodes};

#[component]
pub fn NetworkPage() -> impl IntoView {
    let live = Live::get();
    let loaded = Resource::new(|| (), |_| network_figures());
    let node_changes = live.changes(|event| matches!(event, LiveEvent::NodeStatus { .. }));
    let nodes = Resource::new(move || node_changes.get(), |_| online_nodes());
    // The newest figures: those loaded, then each one the socket brings.
    let pushed = Memo::new(move |_| match live.event() {
        Some(LiveEvent::NetworkStats(stats)) => Some(stats),
        _ => None,
    });
    view! {
        <Title text="Compute network" />
        <Meta name="description" content="Community compute nodes running AI tasks for Meritree, live." />
        <section class="network">
            <h1>"Compute network"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match loaded.await {
                        Ok(first) => {
                            let stats = Signal::derive(move || pushed.get().unwrap_or_else(|| first.clone()));
                            view! { <Figures stats /> }.into_any()
                        }
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
            <h2>"Nodes online"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match nodes.await {
                        Ok(stats) if stats.nodes.is_empty() => view! {
                            <p class="muted" data-testid="no-nodes">"No node is online. Run one with " <code>"meritree node"</code> "."</p>
                        }.into_any(),
                        Ok(stats) => view! { <NodeTable nodes=stats.nodes /> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Figures(stats: Signal<NetworkStats>) -> impl IntoView {
    view! {
        <dl class="figures">
            <div><dt>"Nodes online"</dt><dd data-testid="active-nodes">{move || stats.with(|s| s.active_nodes)}</dd></div>
            <div><dt>"Tasks waiting"</dt><dd data-testid="pending-tasks">{move || stats.with(|s| s.pending_tasks)}</dd></div>
            <div><dt>"Tasks running"</dt><dd data-testid="running-tasks">{move || stats.with(|s| s.running_tasks)}</dd></div>
            <div><dt>"Completed, last hour"</dt><dd data-testid="completed-hour">{move || stats.with(|s| s.completed_last_hour)}</dd></div>
        </dl>
        <ThroughputChart throughput=Signal::derive(move || stats.with(|s| s.throughput.clone())) />
    }
}

/// Tasks completed per minute, 60 bars, drawn as SVG (no script needed to
/// see it).
#[component]
pub fn ThroughputChart(throughput: Signal<Vec<u64>>) -> impl IntoView {
    const WIDTH: u64 = 600;
    const HEIGHT: u64 = 120;
    let bars = move || {
        let values = throughput.get();
        let top = values.iter().copied().max().unwrap_or(0).max(1);
        let slot = WIDTH / values.len().max(1) as u64;
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                let height = v * HEIGHT / top;
                view! {
                    <rect
                        x=(i as u64 * slot).to_string()
                        y=(HEIGHT - height).to_string()
                        width=slot.saturating_sub(1).max(1).to_string()
                        height=height.to_string()
                    >
                        <title>{format!("{v} tasks")}</title>
                    </rect>
                }
            })
            .collect_view()
    };
    view! {
        <figure class="throughput">
            <svg
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                role="img"
                aria-label="Tasks completed per minute over the last hour"
                data-testid="throughput"
            >
                {bars}
            </svg>
            <figcaption>"Tasks completed per minute, the last hour (newest on the right)"</figcaption>
        </figure>
    }
}

#[component]
pub fn NodeTable(nodes: Vec<NodeView>) -> impl IntoView {
    view! {
        <ScrollRegion label="Nodes">
            <table class="components" data-testid="nodes">
                <thead><tr><th>"Node"</th><th>"Operator"</th><th>"Models"</th><th>"Status"</th><th>"Reputation"</th><th>"Completed"</th><th>"Earned"</th></tr></thead>
                <tbody>
                    {nodes.into_iter().map(|n| view! {
                        <tr>
                            <td>{n.name.clone()}</td>
                            <td>{n.operator.clone().map(|h| format!("@{h}")).unwrap_or_default()}</td>
                            <td>{n.models.join(", ")}</td>
                            <td>{n.status.as_str()}</td>
                            <td>{format!("{:.1}%", f64::from(n.reputation) / 10.0)}</td>
                            <td>{n.tasks_completed}</td>
                            <td>{n.earned}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
}
