use leptos::prelude::*;
use leptos_meta::Title;
use meritree_core::status::{format_unix_ms, StatusReport};

use crate::components::health_badge::HealthBadge;
use crate::components::scroll_region::ScrollRegion;
use crate::server_fns::status::check_status;

/// `/status`: the platform's version and the health of each component,
/// rendered on the server and re-checked from the browser on demand.
#[component]
pub fn StatusPage() -> impl IntoView {
    // Each press bumps the counter, which re-runs the check on the server.
    let (checks, set_checks) = signal(0_u32);
    let report = Resource::new(move || checks.get(), |_| check_status());
    let (pending, set_pending) = signal(false);
    // The server sends a finished report, so the button it writes is ready.
    // The Transition's pending flag is set by an effect that runs on the
    // server too, on any worker thread, and could be true when the button
    // is written: hydration keeps a server's `disabled`, and the button
    // would stay "Checking…" until the flag changed.
    let checking = move || !cfg!(feature = "ssr") && pending.get();

    view! {
        <Title text="Status" />
        <section class="status">
            <h1>"Platform status"</h1>
            <Transition
                fallback=|| view! { <p>"Checking…"</p> }
                set_pending
            >
                {move || Suspend::new(async move {
                    match report.await {
                        Ok(report) => view! { <Report report /> }.into_any(),
                        Err(err) => view! {
                            <p class="error" role="alert">
                                "The status check failed: " {err.to_string()}
                            </p>
                        }.into_any(),
                    }
                })}
            </Transition>
            <button
                type="button"
                data-testid="recheck"
                disabled=checking
                on:click=move |_| set_checks.update(|n| *n += 1)
            >
                {move || if checking() { "Checking…" } else { "Check again" }}
            </button>
        </section>
    }
}

#[component]
fn Report(report: StatusReport) -> impl IntoView {
    let overall = report.overall();
    view! {
        <dl class="summary">
            <dt>"Overall"</dt>
            <dd data-testid="overall"><HealthBadge health=overall /></dd>
            <dt>"Version"</dt>
            <dd data-testid="version">{report.version}</dd>
            <dt>"Instance"</dt>
            <dd><code>{report.instance_id}</code></dd>
            <dt>"Up for"</dt>
            <dd>{format_uptime(report.uptime_secs)}</dd>
            <dt>"Checked at"</dt>
            <dd data-testid="checked-at" data-unix-ms=report.checked_at_unix_ms.to_string()>
                {format_unix_ms(report.checked_at_unix_ms)}
            </dd>
        </dl>
        <ScrollRegion label="Components">
            <table class="components">
                <thead>
                    <tr>
                        <th>"Component"</th>
                        <th>"Health"</th>
                        <th>"Backend"</th>
                        <th>"Latency"</th>
                    </tr>
                </thead>
                <tbody>
                    {report
                        .components
                        .into_iter()
                        .map(|c| {
                            view! {
                                <tr data-component=c.component.label()>
                                    <td>{c.component.label()}</td>
                                    <td><HealthBadge health=c.health /></td>
                                    <td>{c.detail}</td>
                                    <td>{c.latency_micros.map(format_latency).unwrap_or_else(|| "—".into())}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
}

fn format_uptime(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

fn format_latency(micros: u64) -> String {
    if micros < 1000 {
        format!("{micros} µs")
    } else {
        format!("{:.1} ms", micros as f64 / 1000.0)
    }
}
