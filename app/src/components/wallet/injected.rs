use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::{entered, TotpCodeField, WalletErrorMessage};
use crate::session::Session;
use crate::wallet::{wallets, InjectedWalletInfo, WalletError};

/// On the sign-in page: one button per extension wallet on the page.
#[component]
pub fn InjectedWalletSignIn() -> impl IntoView {
    let session = Session::get();
    let navigate = use_navigate();
    let totp_code = RwSignal::new(String::new());
    let sign_in = Action::new_local(move |wallet_id: &String| {
        let wallet_id = wallet_id.clone();
        let code = entered(totp_code);
        async move { wallets()?.sign_in_injected(wallet_id, code).await }
    });
    Effect::new(move |_| {
        if matches!(sign_in.value().get(), Some(Ok(_))) {
            session.reload();
            navigate("/account", Default::default());
        }
    });
    view! {
        <section class="wallet-box">
            <h2>"Sign in with a wallet extension"</h2>
            <TotpCodeField result=sign_in.value() code=totp_code />
            <WalletButtons
                verb="Sign in with"
                pending=sign_in.pending()
                on_pick=move |id| { sign_in.dispatch(id); }
            />
            <WalletErrorMessage result=sign_in.value() />
        </section>
    }
}

/// On the account page of an account without a wallet: bind an extension wallet.
#[component]
pub fn BindInjectedWallet() -> impl IntoView {
    let session = Session::get();
    let bind = Action::new_local(|wallet_id: &String| {
        let wallet_id = wallet_id.clone();
        async move { wallets()?.bind_injected(wallet_id).await }
    });
    Effect::new(move |_| {
        if matches!(bind.value().get(), Some(Ok(_))) {
            session.reload();
        }
    });
    view! {
        <section class="wallet-box">
            <h2>"Bind a wallet extension"</h2>
            <WalletButtons
                verb="Bind"
                pending=bind.pending()
                on_pick=move |id| { bind.dispatch(id); }
            />
            <WalletErrorMessage result=bind.value() />
        </section>
    }
}

/// Looks for extension wallets once the page has loaded and offers each.
#[component]
pub fn WalletButtons(
    verb: &'static str,
    #[prop(into)] pending: Signal<bool>,
    on_pick: impl Fn(String) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let discover = Action::new_local(|_: &()| async { wallets()?.discover_injected().await });
    // Effects run only in the browser: the server renders the "looking" state.
    Effect::new(move |_| {
        discover.dispatch(());
    });
    let found = move || discover.value().get();
    view! {
        {move || match found() {
            None => view! { <p class="muted">"Looking for wallet extensions…"</p> }.into_any(),
            Some(Ok(list)) if list.is_empty() => view! {
                <p class="muted" data-testid="no-injected-wallet">"No wallet extension found in this browser."</p>
            }.into_any(),
            Some(Ok(list)) => list.into_iter().map(|wallet: InjectedWalletInfo| {
                let id = wallet.id.clone();
                view! {
                    <button type="button" class="wallet-choice" data-testid="injected-wallet"
                        data-wallet-id=wallet.id.clone() disabled=move || pending.get()
                        on:click=move |_| on_pick(id.clone())>
                        {wallet.icon.map(|src| view! { <img src=src alt="" width="20" height="20" /> })}
                        {format!("{verb} {}", wallet.name)}
                    </button>
                }
            }).collect_view().into_any(),
            Some(Err(err)) => {
                let err: WalletError = err;
                view! { <p class="error" role="alert">{err.to_string()}</p> }.into_any()
            }
        }}
    }
}
