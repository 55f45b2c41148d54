use leptos::prelude::*;
use meritree_core::claims::format_token_units;
use meritree_core::settlement::{ChainOverview, OutboxEntry};

use crate::components::scroll_region::ScrollRegion;
use crate::components::server_error::ServerError;
use crate::components::time::utc_minutes;
use crate::server_fns::admin::{chain_state, SetClaimsPaused};
use crate::wallet::key_once;

/// The distributor (paused or not), the platform key's balance and the
/// outbox; pause or resume claims.
#[component]
pub fn Chain() -> impl IntoView {
    let switch = ServerAction::<SetClaimsPaused>::new();
    let overview = Resource::new(move || switch.version().get(), |_| chain_state());
    view! {
        <section class="wallet-box" data-testid="chain">
            <h2>"Chain"</h2>
            <ServerError result=switch.value() />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match overview.await {
                        Ok(chain) => view! { <Overview chain switch /> }.into_any(),
                        Err(err) => view! { <p class="error" role="alert" data-code=err.code.as_str()>{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Overview(chain: ChainOverview, switch: ServerAction<SetClaimsPaused>) -> impl IntoView {
    let key = StoredValue::new(None::<String>);
    let problem = RwSignal::new(None::<String>);
    let paused = chain.paused;
    let flip = move |_| match key_once(key) {
        Ok(idempotency_key) => {
            switch.dispatch(SetClaimsPaused {
                paused: paused != Some(true),
                idempotency_key,
            });
        }
        Err(err) => problem.set(Some(err.to_string())),
    };
    view! {
        <dl class="facts">
            <dt>"Chain"</dt><dd>{chain.chain_id}</dd>
            <dt>"Distributor"</dt><dd><code>{chain.distributor}</code>" (version "{chain.distributor_version}")"</dd>
            <dt>"Claims"</dt>
            <dd data-testid="claims-state">
                {match paused { Some(true) => "paused", Some(false) => "open", None => "unknown (the chain did not answer)" }}
            </dd>
            <dt>"Platform key"</dt><dd><code>{chain.relayer}</code></dd>
            <dt>"Its balance"</dt>
            <dd data-testid="relayer-balance">
                {chain.relayer_balance_wei.map(|wei| format!("{} ETH", format_token_units(&wei, 18))).unwrap_or_else(|| "unknown".into())}
            </dd>
        </dl>
        <p>
            <button type="button" data-testid="toggle-claims" on:click=flip disabled=paused.is_none()>
                {if paused == Some(true) { "Resume claims" } else { "Pause claims" }}
            </button>
        </p>
        {move || problem.get().map(|p| view! { <p class="error" role="alert">{p}</p> })}
        <h3>"Transactions on their way"</h3>
        <TxTable txs=chain.pending empty="Nothing is waiting." />
        <h3>"Failed transactions"</h3>
        <TxTable txs=chain.failed empty="None." />
    }
}

#[component]
fn TxTable(txs: Vec<OutboxEntry>, empty: &'static str) -> impl IntoView {
    if txs.is_empty() {
        return view! { <p class="muted">{empty}</p> }.into_any();
    }
    view! {
        <ScrollRegion label="Pending transactions">
            <table class="components">
                <thead><tr><th>"What"</th><th>"State"</th><th>"Nonce"</th><th>"Sends"</th><th>"Hash"</th><th>"Updated"</th><th>"Error"</th></tr></thead>
                <tbody>
                    {txs.into_iter().map(|tx| view! {
                        <tr data-testid="outbox-entry">
                            <td>{tx.kind}</td>
                            <td>{tx.status}</td>
                            <td>{tx.nonce.map(|n| n.to_string()).unwrap_or_default()}</td>
                            <td>{tx.sends}</td>
                            <td><code>{tx.hash.unwrap_or_default()}</code></td>
                            <td>{utc_minutes(tx.updated_at)}</td>
                            <td>{tx.error.unwrap_or_default()}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </ScrollRegion>
    }
    .into_any()
}
