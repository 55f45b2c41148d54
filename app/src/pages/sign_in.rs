use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::server_error::ServerError;
use meritree_core::ErrorCode;

use crate::components::wallet::embedded::{EmbeddedWalletSignIn, ImportEmbeddedWallet};
use crate::components::wallet::injected::InjectedWalletSignIn;
use crate::server_fns::auth::SignIn;
use crate::session::signed_in_goes_to_account;

/// `/sign-in`: sign in with email and password, a wallet extension, or
/// the wallet kept in this browser.
#[component]
pub fn SignInPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    signed_in_goes_to_account(sign_in.value());

    view! {
        <Title text="Sign in" />
        <section class="auth">
            <h1>"Sign in"</h1>
            <PasswordSignInForm sign_in />
            <InjectedWalletSignIn />
            <EmbeddedWalletSignIn />
            <ImportEmbeddedWallet />
            <p><A href="/forgot-password">"Forgot your password?"</A></p>
            <p>"New here? " <A href="/sign-up">"Create an account"</A></p>
        </section>
    }
}

/// Email and password, and a two-factor code once the server asks for one.
#[component]
pub fn PasswordSignInForm(sign_in: ServerAction<SignIn>) -> impl IntoView {
    // The code field appears once the server says the account has two-factor on.
    let needs_code = move || {
        sign_in.value().with(|result| {
            matches!(result, Some(Err(e)) if matches!(e.code, ErrorCode::TotpRequired | ErrorCode::InvalidTotp))
        })
    };
    view! {
        <ActionForm action=sign_in attr:class="form">
            <label>
                "Email"
                <input type="email" name="email" autocomplete="email" required />
            </label>
            <label>
                "Password"
                <input type="password" name="password" autocomplete="current-password" required />
            </label>
            <Show when=needs_code>
                <label>
                    "Code from your authenticator app (or a recovery code)"
                    <input type="text" name="totp_code" autocomplete="one-time-code" maxlength="19" required />
                </label>
            </Show>
            <ServerError result=sign_in.value() />
            <button type="submit" disabled=move || sign_in.pending().get()>"Sign in"</button>
        </ActionForm>
    }
}
