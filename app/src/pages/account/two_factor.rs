use leptos::prelude::*;

use crate::components::server_error::ServerError;
use crate::server_fns::totp::{BeginTotp, ConfirmTotp, DisableTotp};
use crate::session::Session;

/// Turns the authenticator-app second factor on (secret shown once, then a
/// first code confirms it) or off (a current code is needed).
#[component]
pub fn TwoFactor(enabled: bool) -> impl IntoView {
    let session = Session::get();
    let begin = ServerAction::<BeginTotp>::new();
    let confirm = ServerAction::<ConfirmTotp>::new();
    let disable = ServerAction::<DisableTotp>::new();
    Effect::new(move |_| {
        let confirmed = matches!(confirm.value().get(), Some(Ok(())));
        let disabled = matches!(disable.value().get(), Some(Ok(())));
        if confirmed || disabled {
            session.reload();
        }
    });
    let setup = move || begin.value().get().and_then(Result::ok);
    let code_input = || {
        view! {
            <label>
                "Code from your authenticator app"
                <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code"
                    pattern="[0-9]{6}" maxlength="6" required />
            </label>
        }
    };
    view! {
        <section class="wallet-box" data-testid="two-factor">
            <h2>"Two-factor authentication"</h2>
            <Show when=move || enabled fallback=move || view! {
                <p data-testid="totp-state">"Off. Turn it on to ask for a code from an authenticator app at every sign-in."</p>
                <Show when=move || setup().is_some() fallback=move || view! {
                    <ActionForm action=begin>
                        <button type="submit" data-testid="begin-totp">"Turn on"</button>
                    </ActionForm>
                }>
                    {move || setup().map(|s| view! {
                        <p>"Add this secret to your authenticator app (or open the link on your phone):"</p>
                        <pre data-testid="totp-secret">{s.secret}</pre>
                        <p><a href=s.otpauth_uri>"Open in an authenticator app"</a></p>
                    })}
                    <ActionForm action=confirm attr:class="form">
                        {code_input()}
                        <button type="submit" data-testid="confirm-totp">"Confirm"</button>
                    </ActionForm>
                    <ServerError result=confirm.value() />
                </Show>
                <ServerError result=begin.value() />
            }>
                <p data-testid="totp-state">"On. Sign-in asks for a code from your authenticator app."</p>
                <ActionForm action=disable attr:class="form">
                    {code_input()}
                    <button type="submit" data-testid="disable-totp">"Turn off"</button>
                </ActionForm>
                <ServerError result=disable.value() />
            </Show>
        </section>
    }
}
