use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use meritree_core::encoding::percent_encode;

use super::{entered, TotpCodeField, WalletErrorMessage};
use crate::session::Session;
use crate::wallet::wallets;

/// On the account page of an account without a wallet: create one in this
/// browser, sealed under a passphrase, and bind it.
#[component]
pub fn CreateEmbeddedWallet() -> impl IntoView {
    let session = Session::get();
    let (passphrase, set_passphrase) = signal(String::new());
    let create = Action::new_local(|passphrase: &String| {
        let passphrase = passphrase.clone();
        async move { wallets()?.create_embedded_and_bind(passphrase).await }
    });
    Effect::new(move |_| {
        if matches!(create.value().get(), Some(Ok(_))) {
            session.reload();
        }
    });
    view! {
        <section class="wallet-box">
            <h2>"Wallet"</h2>
            <p>"No wallet extension? Create a wallet in this browser. It is encrypted with your passphrase and never leaves this device."</p>
            <form class="form" on:submit=move |ev| {
                ev.prevent_default();
                create.dispatch(passphrase.get());
            }>
                <label>
                    "Wallet passphrase"
                    <input type="password" name="wallet_passphrase" autocomplete="new-password" required
                        minlength=meritree_core::wallet::MIN_PASSPHRASE_CHARS.to_string()
                        on:input=move |ev| set_passphrase.set(event_target_value(&ev)) />
                </label>
                <button type="submit" data-testid="create-wallet" disabled=move || create.pending().get()>
                    {move || if create.pending().get() { "Creating…" } else { "Create and bind a wallet" }}
                </button>
                <WalletErrorMessage result=create.value() />
            </form>
        </section>
    }
}

/// On the sign-in page: sign in with the wallet stored in this browser.
#[component]
pub fn EmbeddedWalletSignIn() -> impl IntoView {
    let session = Session::get();
    let navigate = use_navigate();
    let (passphrase, set_passphrase) = signal(String::new());
    let totp_code = RwSignal::new(String::new());
    let sign_in = Action::new_local(move |passphrase: &String| {
        let passphrase = passphrase.clone();
        let code = entered(totp_code);
        async move { wallets()?.sign_in_embedded(passphrase, code).await }
    });
    Effect::new(move |_| {
        if matches!(sign_in.value().get(), Some(Ok(_))) {
            session.reload();
            navigate("/account", Default::default());
        }
    });
    view! {
        <section class="wallet-box">
            <h2>"Sign in with this browser's wallet"</h2>
            <form class="form" on:submit=move |ev| {
                ev.prevent_default();
                sign_in.dispatch(passphrase.get());
            }>
                <label>
                    "Wallet passphrase"
                    <input type="password" name="wallet_passphrase" autocomplete="current-password" required
                        on:input=move |ev| set_passphrase.set(event_target_value(&ev)) />
                </label>
                <TotpCodeField result=sign_in.value() code=totp_code />
                <button type="submit" data-testid="wallet-sign-in" disabled=move || sign_in.pending().get()>
                    {move || if sign_in.pending().get() { "Signing…" } else { "Sign in with wallet" }}
                </button>
                <WalletErrorMessage result=sign_in.value() />
            </form>
        </section>
    }
}

/// On the account page of an account with a wallet: the backup of this
/// browser's wallet (sealed; the passphrase is still needed to use it).
#[component]
pub fn BackUpEmbeddedWallet() -> impl IntoView {
    let export = Action::new_local(|_: &()| async { wallets()?.export_embedded().await });
    let backup = move || export.value().get().and_then(Result::ok);
    view! {
        <section class="wallet-box">
            <h2>"Wallet backup"</h2>
            <button type="button" data-testid="export-wallet" on:click=move |_| { export.dispatch(()); }>
                "Show this browser's wallet backup"
            </button>
            <Show when=move || backup().is_some()>
                <p>"Keep this somewhere safe. It is encrypted: you also need your passphrase."</p>
                <textarea readonly rows="8" data-testid="wallet-backup">{move || backup().unwrap_or_default()}</textarea>
                <a download="meritree-wallet.json"
                    href=move || format!("data:application/json;charset=utf-8,{}", percent_encode(&backup().unwrap_or_default()))>
                    "Download"
                </a>
            </Show>
            <WalletErrorMessage result=export.value() />
        </section>
    }
}

/// On the sign-in page: bring a wallet backup into this browser.
#[component]
pub fn ImportEmbeddedWallet() -> impl IntoView {
    let (backup, set_backup) = signal(String::new());
    let (passphrase, set_passphrase) = signal(String::new());
    let import = Action::new_local(|(json, passphrase): &(String, String)| {
        let (json, passphrase) = (json.clone(), passphrase.clone());
        async move { wallets()?.import_embedded(json, passphrase).await }
    });
    view! {
        <details class="wallet-box">
            <summary>"Import a wallet backup"</summary>
            <form class="form" on:submit=move |ev| {
                ev.prevent_default();
                import.dispatch((backup.get(), passphrase.get()));
            }>
                <label>
                    "Backup"
                    <textarea name="wallet_backup" rows="6" required
                        on:input=move |ev| set_backup.set(event_target_value(&ev))></textarea>
                </label>
                <label>
                    "Its passphrase"
                    <input type="password" name="backup_passphrase" required
                        on:input=move |ev| set_passphrase.set(event_target_value(&ev)) />
                </label>
                <button type="submit" data-testid="import-wallet">"Import"</button>
                {move || import.value().get().and_then(Result::ok).map(|address| view! {
                    <p data-testid="imported-wallet">"Imported " {address} ". You can now sign in with it."</p>
                })}
                <WalletErrorMessage result=import.value() />
            </form>
        </details>
    }
}
