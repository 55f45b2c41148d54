use std::time::Duration;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use meritree_core::claims::{format_token_units, ClaimView, Claimable};
use meritree_core::rounds::RewardsView;

use crate::components::server_error::ServerError;
use crate::server_fns::rewards::{
    claimable_rewards, rewards_overview, ClaimProgress, StartClaim, StartClaimTo,
};
use crate::session::Session;
use crate::wallet::{wallets, UnsignedClaimTo};

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
        </dl>
        <h2>"Settled points"</h2>
        {if overview.settlements.is_empty() {
            view! { <p class="muted">"Nothing settled yet: points move to your wallet when a round closes."</p> }.into_any()
        } else {
            view! {
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
    // One claim per published amount: a double click is the same claim.
    let key = format!("round-{}-{}", claimable.round, claimable.cumulative_amount);
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
            on:click=move |_| { start.dispatch(StartClaim { idempotency_key: key.clone() }); }>
            "Claim (no gas needed)"
        </button>
    }
    .into_any()
}

/// Sends the claimable tokens to another address: this browser's wallet
/// signs a `ClaimTo` (EIP-712), the platform relays it and pays the gas.
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
    let key = format!(
        "to-round-{}-{}",
        claimable.round, claimable.cumulative_amount
    );
    let sign = Action::new_local(move |(to, passphrase): &(String, String)| {
        let unsigned = UnsignedClaimTo {
            chain_id: claimable.chain_id,
            distributor: claimable.distributor.clone(),
            account: claimable.wallet.clone(),
            to: to.clone(),
            cumulative_amount: claimable.cumulative_amount.clone(),
            nonce: claimable.claim_to_nonce.clone(),
        };
        let passphrase = passphrase.clone();
        async move {
            wallets()?
                .sign_claim_to_embedded(passphrase, unsigned)
                .await
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(signed)) = sign.value().get() {
            start_to.dispatch(StartClaimTo {
                idempotency_key: format!("{key}-{}", to.get_untracked().to_lowercase()),
                to: to.get_untracked(),
                deadline: signed.deadline,
                signature: signed.signature,
            });
        }
    });
    view! {
        <details class="wallet-box">
            <summary>"Send to another address"</summary>
            <form class="form" on:submit=move |ev| {
                ev.prevent_default();
                sign.dispatch((to.get(), passphrase.get()));
            }>
                <label>
                    "Recipient address"
                    <input type="text" name="claim_to" required pattern="0x[0-9a-fA-F]{40}"
                        on:input=move |ev| set_to.set(event_target_value(&ev)) />
                </label>
                <label>
                    "Wallet passphrase (this browser's wallet signs the permission)"
                    <input type="password" name="claim_to_passphrase" autocomplete="current-password" required
                        on:input=move |ev| set_passphrase.set(event_target_value(&ev)) />
                </label>
                <button type="submit" data-testid="claim-to"
                    disabled=move || sign.pending().get() || start_to.pending().get()
                        || current.get().is_some_and(|c| !c.status.is_final())>
                    "Sign and send"
                </button>
                {move || sign.value().get().and_then(Result::err).map(|err| view! {
                    <p class="error" role="alert" data-testid="wallet-error">{err.to_string()}</p>
                })}
            </form>
        </details>
    }
    .into_any()
}
