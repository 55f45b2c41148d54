use leptos::prelude::*;
use meritree_core::audit::AuditEntry;

use crate::components::scroll_region::ScrollRegion;
use crate::components::server_error::ServerError;
use crate::components::time::utc_minutes;
use crate::server_fns::admin::{audit_entries, VerifyAudit};

/// The audit log: every admin action and value movement not made by the
/// platform's own rules, newest page last; its chain checked on demand,
/// and the whole log as a file anyone can re-check.
#[component]
pub fn AuditLog() -> impl IntoView {
    let after = RwSignal::new(None::<i64>);
    let page = Resource::new(move || after.get(), audit_entries);
    let verify = ServerAction::<VerifyAudit>::new();
    view! {
        <section class="wallet-box" data-testid="audit-log">
            <h2>"Audit log"</h2>
            <p>
                <button type="button" data-testid="verify-audit" on:click=move |_| { verify.dispatch(VerifyAudit {}); }>
                    "Check the chain"
                </button>
                " "
                <a href="/api/v1/admin/audit/export" download="meritree-audit.json" data-testid="export-audit">"Export (JSON)"</a>
            </p>
            {move || verify.value().get().and_then(Result::ok).map(|checked| match checked.broken {
                None => view! {
                    <p data-testid="audit-intact">{format!("Intact: {} entries, head {}", checked.entries, &checked.head[..16])}</p>
                }.into_any(),
                Some(broken) => view! {
                    <p class="error" role="alert" data-testid="audit-broken">{format!("Broken at entry {}: {}", broken.seq, broken.reason)}</p>
                }.into_any(),
            })}
            <ServerError result=verify.value() />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Ok(page) if page.entries.is_empty() => view! { <p class="muted">"No entries yet."</p> }.into_any(),
                        Ok(page) => {
                            let next = page.next_after;
                            view! {
                                <EntryTable entries=page.entries />
                                {next.map(|n| view! {
                                    <button type="button" on:click=move |_| after.set(Some(n))>"Later entries"</button>
                                })}
                            }.into_any()
                        }
                        Err(err) => view! { <p class="error" role="alert" data-code=err.code.as_str()>{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn EntryTable(entries: Vec<AuditEntry>) -> impl IntoView {
    view! {
        <ScrollRegion label="Audit log">
            <table class="components">
                <thead><tr><th>"#"</th><th>"When"</th><th>"Who"</th><th>"What"</th><th>"To whom"</th><th>"Before"</th><th>"After"</th></tr></thead>
                <tbody>
                    {entries.into_iter().map(|e| view! {
                        <tr data-testid="audit-entry">
                            <td>{e.seq}</td>
                            <td>{utc_minutes(e.at)}</td>
                            <td>{e.actor}</td>
                            <td>{e.action}</td>
                            <td>{e.subject}</td>
                            <td><code>{e.before.unwrap_or_default()}</code></td>
                            <td><code>{e.after.unwrap_or_default()}</code></td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
}
