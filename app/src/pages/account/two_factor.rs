use leptos::prelude::*;

use crate::components::server_error::ServerError;
use crate::server_fns::totp::{BeginTotp, ConfirmTotp, DisableTotp, NewRecoveryCodes};
use crate::session::Session;

/// The recovery codes just made, kept by the account page: its details
/// (this component included) render again when the session reloads after
/// two-factor is turned on, and the codes must stay on screen.
#[derive(Clone, Copy)]
pub struct ShownRecoveryCodes(pub RwSignal<Option<Vec<String>>>);

/// Turns the authenticator-app second factor on (secret shown once, then a
/// first code confirms it) or off (a current code is needed).
#[component]
pub fn TwoFactor(enabled: bool) -> impl IntoView {
    let session = Session::get();
    let begin = ServerAction::<BeginTotp>::new();
    let confirm = ServerAction::<ConfirmTotp>::new();
    let disable = ServerAction::<DisableTotp>::new();
    let regenerate = ServerAction::<NewRecoveryCodes>::new();
    let shown = use_context::<ShownRecoveryCodes>()
        .map(|shown| shown.0)
        .unwrap_or_else(|| RwSignal::new(None));
    Effect::new(move |_| {
        if let Some(Ok(codes)) = regenerate.value().get() {
            shown.set(Some(codes.codes));
        }
    });
    Effect::new(move |_| {
        if let Some(Ok(codes)) = confirm.value().get() {
            shown.set(Some(codes.codes));
        }
        let confirmed = matches!(confirm.value().get(), Some(Ok(_)));
        let disabled = matches!(disable.value().get(), Some(Ok(())));
        if confirmed || disabled {
            session.reload();
        }
    });
    let setup = move || begin.value().get().and_then(Result::ok);
    // The newest set, from confirming or from asking again: shown once.
    let recovery_codes = move || shown.get();
    let code_input = || {
        view! {
            <label>
                "Code from your authenticator app (or a recovery code)"
                <input type="text" name="code" autocomplete="one-time-code" maxlength="19" required />
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
                {move || recovery_codes().map(|codes| view! {
                    <p>"Recovery codes: each works once instead of a code if you lose the app. Keep them somewhere safe, off this device; they are not shown again."</p>
                    <ul class="recovery-codes" data-testid="recovery-codes">
                        {codes.into_iter().map(|code| view! { <li><code>{code}</code></li> }).collect_view()}
                    </ul>
                })}
                <ActionForm action=regenerate attr:class="form">
                    {code_input()}
                    <button type="submit" data-testid="new-recovery-codes">"New recovery codes"</button>
                </ActionForm>
                <ServerError result=regenerate.value() />
                <ActionForm action=disable attr:class="form">
                    {code_input()}
                    <button type="submit" data-testid="disable-totp">"Turn off"</button>
                </ActionForm>
                <ServerError result=disable.value() />
            </Show>
        </section>
    }
}
