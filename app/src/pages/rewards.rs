use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use meritree_core::claims::{format_token_units, ClaimView, Claimable};
use meritree_core::rounds::RewardsView;

use crate::components::scroll_region::ScrollRegion;
use crate::components::server_error::ServerError;
use crate::components::wallet::injected::WalletButtons;
use crate::components::wallet::WalletErrorMessage;
use crate::server_fns::rewards::{
    claimable_rewards, rewards_overview, ClaimProgress, StartClaim, StartClaimTo,
};
use crate::session::Session;
use crate::wallet::{key_once, wallets, UnsignedClaimTo, WalletError};

/// The reward token's decimals (the development token's; ERC-20 default).
const TOKEN_DECIMALS: usize = 18;

/// `/rewards`: points waiting for the next round, points settled per round,
/// tokens claimable now, and a gas-free Claim.
#[component]
pub fn RewardsPage() -> impl IntoView {
    let session = Session::get();
    view! {
        <Title text="Your rewards" />
        <section class="rewards">
            <h1>"Your rewards"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match session.account.await {
                        Ok(Some(_)) => view! { <Rewards /> }.into_any(),
                        Ok(None) => view! {
                            <p data-testid="signed-out">
                                "Sign in to see your rewards. " <A href="/sign-in">"Sign in"</A>
                            </p>
                        }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Rewards() -> impl IntoView {
    // Bumped when a claim ends, so the numbers come from the chain again.
    let refresh = RwSignal::new(0_u32);
    let overview = Resource::new(move || refresh.get(), |_| rewards_overview());
    let claimable = Resource::new(move || refresh.get(), |_| claimable_rewards());
    // Outside the refreshed part, so a claim's progress stays on screen.
    let start = ServerAction::<StartClaim>::new();
    let start_to = ServerAction::<StartClaimTo>::new();
    let current = follow_claim(start, start_to, refresh);
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match (overview.await, claimable.await) {
                    (Ok(overview), Ok(claimable)) => view! {
                        <Overview overview />
                        <Claim claimable=claimable.clone() start current />
                        <ClaimToAnotherAddress claimable start_to current />
                    }.into_any(),
                    (Err(err), _) | (_, Err(err)) => view! {
                        <p class="error" role="alert" data-code=err.code.as_str()>{err.message}</p>
                    }.into_any(),
                }
            })}
        </Transition>
        <ServerError result=start.value() />
        <ServerError result=start_to.value() />
        {move || current.get().map(|claim| view! {
            <p data-testid="claim-status" data-status=format!("{:?}", claim.status).to_lowercase()>
                "Claim " {format!("{:?}", claim.status).to_lowercase()}
                {claim.tx_hash.map(|hash| view! { " · " <code class="hash">{hash}</code> })}
            </p>
        })}
    }
}

/// The claim `start` began, kept up to date: asked again every second until
/// it is final (pending → confirmed, live), then `refresh` is bumped.
fn follow_claim(
    start: ServerAction<StartClaim>,
    start_to: ServerAction<StartClaimTo>,
    refresh: RwSignal<u32>,
) -> RwSignal<Option<ClaimView>> {
    let progress = ServerAction::<ClaimProgress>::new();
    let current = RwSignal::new(None::<ClaimView>);
    Effect::new(move |_| {
        if let Some(Ok(claim)) = start.value().get() {
            current.set(Some(claim));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(claim)) = start_to.value().get() {
            current.set(Some(claim));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(claim)) = progress.value().get() {
            current.set(Some(claim));
        }
    });
    Effect::new(move |_| {
        let Some(claim) = current.get() else { return };
        if claim.status.is_final() {
            refresh.update(|n| *n += 1);
        } else {
            let id = claim.id.clone();
            set_timeout(
                move || {
                    progress.dispatch(ClaimProgress { id });
                },
                Duration::from_secs(1),
            );
        }
    });
    current
}

#[component]
fn Overview(overview: RewardsView) -> impl IntoView {
    view! {
        <dl class="summary">
            <dt>"Points waiting for the next round"</dt>
            <dd data-testid="points-balance">{overview.points_balance}</dd>
            <dt>"Wallet"</dt>
            <dd>{overview.wallet.unwrap_or_else(|| "none bound: bind one on your account page to be paid".into())}</dd>
            {overview.claim.map(|claim| view! {
                // Shown from the round's close on: a root still being
                // published is why tokens may not be claimable yet.
                <dt>"Settled to your wallet, all rounds"</dt>
                <dd data-testid="settled-total">
                    {format_token_units(&claim.leaf.amount, TOKEN_DECIMALS)} " MRT after round "
                    {claim.round} " (" {claim.status.as_str()} ")"
                </dd>
            })}
        </dl>
        <h2>"Settled points"</h2>
        {if overview.settlements.is_empty() {
            view! { <p class="muted">"Nothing settled yet: points move to your wallet when a round closes."</p> }.into_any()
        } else {
            view! {
                <ScrollRegion label="Rounds paid">
                    <table class="components">
                        <thead><tr><th>"Round"</th><th>"Points"</th><th>"Wallet"</th></tr></thead>
                        <tbody>
                            {overview.settlements.into_iter().map(|s| view! {
                                <tr data-testid="settlement-row">
                                    <td>{s.round}</td><td>{s.points}</td><td><code>{s.wallet}</code></td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </ScrollRegion>
            }.into_any()
        }}
    }
}

#[component]
fn Claim(
    claimable: Option<Claimable>,
    start: ServerAction<StartClaim>,
    current: RwSignal<Option<ClaimView>>,
) -> impl IntoView {
    let Some(claimable) = claimable else {
        return view! {
            <p class="muted" data-testid="nothing-to-claim">"Nothing to claim yet."</p>
        }
        .into_any();
    };
    let key = StoredValue::new(None::<String>);
    let key_error = RwSignal::new(None::<WalletError>);
    let nothing_left = claimable.claimable == "0";
    view! {
        <h2>"On chain"</h2>
        <dl class="summary">
            <dt>"Claimable now"</dt>
            <dd data-testid="claimable">{format_token_units(&claimable.claimable, TOKEN_DECIMALS)} " MRT"</dd>
            <dt>"Already claimed"</dt>
            <dd>{format_token_units(&claimable.claimed, TOKEN_DECIMALS)} " MRT"</dd>
            <dt>"In your wallet"</dt>
            <dd data-testid="token-balance">{format_token_units(&claimable.token_balance, TOKEN_DECIMALS)} " MRT"</dd>
            <dt>"From round"</dt>
            <dd>{claimable.round}</dd>
            <dt>"Token"</dt>
            <dd><code data-testid="token-address">{claimable.token.clone()}</code></dd>
        </dl>
        <button type="button" data-testid="claim"
            disabled=move || nothing_left || start.pending().get()
                || current.get().is_some_and(|c| !c.status.is_final())
            on:click=move |_| match key_once(key) {
                Ok(idempotency_key) => { start.dispatch(StartClaim { idempotency_key }); }
                Err(err) => key_error.set(Some(err)),
            }>
            "Claim (no gas needed)"
        </button>
        {move || key_error.get().map(|err| view! { <p class="error" role="alert">{err.to_string()}</p> })}
    }
    .into_any()
}

/// Which wallet signs the `ClaimTo`: this browser's (unlocked with its
/// passphrase) or an extension (by its id on the page).
#[derive(Clone)]
enum Signer {
    Embedded { passphrase: String },
    Injected { wallet_id: String },
}

/// Sends the claimable tokens to another address: the rewards wallet signs
/// a `ClaimTo` (EIP-712), the platform relays it and pays the gas.
#[component]
fn ClaimToAnotherAddress(
    claimable: Option<Claimable>,
    start_to: ServerAction<StartClaimTo>,
    current: RwSignal<Option<ClaimView>>,
) -> impl IntoView {
    let Some(claimable) = claimable.filter(|c| c.claimable != "0") else {
        return ().into_any();
    };
    let (to, set_to) = signal(String::new());
    let (passphrase, set_passphrase) = signal(String::new());
    let key = StoredValue::new(None::<String>);
    // A local action's closure must own nothing that needs dropping: the
    // server renders on any worker thread and drops it on another.
    let claimable = StoredValue::new(claimable);
    let sign = Action::new_local(move |(to, signer): &(String, Signer)| {
        let unsigned = claimable.with_value(|c| UnsignedClaimTo {
            chain_id: c.chain_id,
            distributor: c.distributor.clone(),
            account: c.wallet.clone(),
            to: to.trim().to_owned(),
            cumulative_amount: c.cumulative_amount.clone(),
            nonce: c.claim_to_nonce.clone(),
        });
        let signer = signer.clone();
        // The address signed for, not the field's later contents.
        let to = unsigned.to.clone();
        async move {
            let wallets = wallets()?;
            let signed = match signer {
                Signer::Embedded { passphrase } => {
                    wallets.sign_claim_to_embedded(passphrase, unsigned).await?
                }
                Signer::Injected { wallet_id } => {
                    wallets.sign_claim_to_injected(wallet_id, unsigned).await?
                }
            };
            Ok::<_, WalletError>((key_once(key)?, to, signed))
        }
    });
    Effect::new(move |_| {
        if let Some(Ok((idempotency_key, to, signed))) = sign.value().get() {
            start_to.dispatch(StartClaimTo {
                idempotency_key,
                to,
                deadline: signed.deadline,
                signature: signed.signature,
            });
        }
    });
    let busy = Signal::derive(move || {
        sign.pending().get()
            || start_to.pending().get()
            || current.get().is_some_and(|c| !c.status.is_final())
    });
    view! {
        <details class="wallet-box">
            <summary>"Send to another address"</summary>
            <form class="form" on:submit=move |ev| {
                ev.prevent_default();
                sign.dispatch((to.get(), Signer::Embedded { passphrase: passphrase.get() }));
            }>
                <p class="muted">"Your rewards wallet signs a permission (valid for an hour) to pay this address instead; the platform still pays the gas."</p>
                <label>
                    "Recipient address"
                    <input type="text" name="claim_to" required pattern="0x[0-9a-fA-F]{40}"
                        on:input=move |ev| set_to.set(event_target_value(&ev)) />
                </label>
                <label>
                    "Passphrase of this browser's wallet"
                    <input type="password" name="claim_to_passphrase" autocomplete="current-password" required
                        on:input=move |ev| set_passphrase.set(event_target_value(&ev)) />
                </label>
                <button type="submit" data-testid="claim-to" disabled=move || busy.get()>
                    "Sign with this browser's wallet and send"
                </button>
            </form>
            <p class="muted">"Or, if your rewards wallet is in an extension:"</p>
            <WalletButtons
                verb="Sign with"
                pending=busy
                on_pick=move |wallet_id| {
                    sign.dispatch((to.get_untracked(), Signer::Injected { wallet_id }));
                }
            />
            <WalletErrorMessage result=sign.value() />
        </details>
    }
    .into_any()
}
