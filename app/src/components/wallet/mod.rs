//! The wallet boxes on the sign-in and account pages: the embedded wallet
//! and extension wallets. The signing itself is the client's
//! (`crate::wallet::BrowserWallets`).

pub mod embedded;
pub mod injected;

use leptos::prelude::*;

use crate::wallet::WalletError;

/// A failed wallet flow's message, with the server's code when it has one.
#[component]
pub fn WalletErrorMessage<T: Send + Sync + 'static>(
    #[prop(into)] result: Signal<Option<Result<T, WalletError>>>,
) -> impl IntoView {
    move || {
        result.with(|r| match r {
            Some(Err(err)) => Some(view! {
                <p class="error" role="alert" data-testid="wallet-error"
                    data-code=err.code().map(|c| c.as_str())>
                    {err.to_string()}
                </p>
            }),
            _ => None,
        })
    }
}

/// The authenticator-code field a wallet sign-in shows once the server says
/// the account has two-factor authentication on.
#[component]
fn TotpCodeField<T: Send + Sync + 'static>(
    #[prop(into)] result: Signal<Option<Result<T, WalletError>>>,
    code: RwSignal<String>,
) -> impl IntoView {
    let wanted = move || result.with(|r| matches!(r, Some(Err(err)) if err.wants_totp_code()));
    view! {
        <Show when=wanted>
            <label>
                "Code from your authenticator app (or a recovery code)"
                <input type="text" name="wallet_totp_code" autocomplete="one-time-code" maxlength="19" required
                    on:input=move |ev| code.set(event_target_value(&ev)) />
            </label>
        </Show>
    }
}

/// `Some(code)` once the person typed one.
fn entered(code: RwSignal<String>) -> Option<String> {
    Some(code.get_untracked().trim().to_owned()).filter(|c| !c.is_empty())
}
