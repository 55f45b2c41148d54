use leptos::prelude::*;

use crate::components::server_error::ServerError;
use crate::server_fns::auth::Reauthenticate;

/// Changing the wallet, email, two-factor or API keys needs a proof of
/// identity from the last ten minutes: signing in is one, and this form
/// gives another without signing out.
#[component]
pub fn ConfirmIdentity() -> impl IntoView {
    let confirm = ServerAction::<Reauthenticate>::new();
    let confirmed = move || matches!(confirm.value().get(), Some(Ok(())));
    view! {
        <section class="wallet-box" data-testid="confirm-identity">
            <h2>"Confirm it is you"</h2>
            <p>
                "Binding a wallet, adding an email, changing two-factor and creating API keys "
                "work for ten minutes after you sign in or confirm here."
            </p>
            <ActionForm action=confirm attr:class="form">
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" />
                </label>
                <label>
                    "or a code from your authenticator app"
                    <input type="text" name="totp_code" inputmode="numeric"
                        autocomplete="one-time-code" maxlength="6" />
                </label>
                <button type="submit" data-testid="confirm-identity-submit">"Confirm"</button>
            </ActionForm>
            <Show when=confirmed>
                <p data-testid="identity-confirmed">"Confirmed for the next ten minutes."</p>
            </Show>
            <ServerError result=confirm.value() />
        </section>
    }
}
