use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use meritree_core::encoding::percent_encode;

use crate::session::Session;
use crate::wallet;

/// On the account page of an account without a wallet: create one in this
/// browser, sealed under a passphrase, and bind it.
#[component]
pub fn CreateEmbeddedWallet() -> impl IntoView {
    let session = Session::get();
    let (passphrase, set_passphrase) = signal(String::new());
    let create =
        Action::new_local(|passphrase: &String| wallet::create_and_bind(passphrase.clone()));
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
                <WalletError result=create.value() />
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
    let sign_in = Action::new_local(|passphrase: &String| wallet::sign_in(passphrase.clone()));
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
                <button type="submit" data-testid="wallet-sign-in" disabled=move || sign_in.pending().get()>
                    {move || if sign_in.pending().get() { "Signing…" } else { "Sign in with wallet" }}
                </button>
                <WalletError result=sign_in.value() />
            </form>
        </section>
    }
}

/// On the account page of an account with a wallet: the backup of this
/// browser's wallet (sealed; the passphrase is still needed to use it).
#[component]
pub fn BackUpEmbeddedWallet() -> impl IntoView {
    let export = Action::new_local(|_: &()| wallet::export_backup());
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
            <WalletError result=export.value() />
        </section>
    }
}

/// On the sign-in page: bring a wallet backup into this browser.
#[component]
pub fn ImportEmbeddedWallet() -> impl IntoView {
    let (backup, set_backup) = signal(String::new());
    let (passphrase, set_passphrase) = signal(String::new());
    let import = Action::new_local(|(json, passphrase): &(String, String)| {
        wallet::import_backup(json.clone(), passphrase.clone())
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
                <WalletError result=import.value() />
            </form>
        </details>
    }
}

#[component]
fn WalletError<T: Send + Sync + 'static>(
    #[prop(into)] result: Signal<Option<Result<T, String>>>,
) -> impl IntoView {
    move || {
        result.with(|r| match r {
            Some(Err(message)) => Some(view! {
                <p class="error" role="alert" data-testid="wallet-error">{message.clone()}</p>
            }),
            _ => None,
        })
    }
}
