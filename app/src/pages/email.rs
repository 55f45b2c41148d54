//! The pages an emailed link opens, and the request for a reset link.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use crate::components::server_error::ServerError;
use crate::server_fns::email::{RequestPasswordReset, ResetPassword, VerifyEmail};

fn token_from_query() -> Signal<String> {
    let query = use_query_map();
    Signal::derive(move || query.with(|q| q.get("token").unwrap_or_default()))
}

/// `/verify-email?token=…`: confirms the address on a click (mail scanners
/// that open links do not use them up).
#[component]
pub fn VerifyEmailPage() -> impl IntoView {
    let verify = ServerAction::<VerifyEmail>::new();
    let token = token_from_query();
    let done = move || matches!(verify.value().get(), Some(Ok(_)));
    view! {
        <Title text="Confirm your email address" />
        <section class="auth">
            <h1>"Confirm your email address"</h1>
            <Show when=done fallback=move || view! {
                <ActionForm action=verify attr:class="form">
                    <input type="hidden" name="token" value=token />
                    <ServerError result=verify.value() />
                    <button type="submit" data-testid="verify-email">"Confirm my address"</button>
                </ActionForm>
            }>
                <p data-testid="email-verified">"Your email address is confirmed."</p>
                <p><A href="/account">"Go to your account"</A></p>
            </Show>
        </section>
    }
}

/// `/forgot-password`: asks for a reset link.
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let request = ServerAction::<RequestPasswordReset>::new();
    let sent = move || matches!(request.value().get(), Some(Ok(())));
    view! {
        <Title text="Reset your password" />
        <section class="auth">
            <h1>"Reset your password"</h1>
            <Show when=sent fallback=move || view! {
                <ActionForm action=request attr:class="form">
                    <label>
                        "Email"
                        <input type="email" name="email" autocomplete="email" required />
                    </label>
                    <ServerError result=request.value() />
                    <button type="submit" data-testid="send-reset-link">"Email me a link"</button>
                </ActionForm>
            }>
                <p data-testid="reset-link-sent">
                    "If an account has this address, a link to reset its password is on its way. It works for one hour."
                </p>
            </Show>
        </section>
    }
}

/// `/reset-password?token=…`: chooses a new password with the emailed link.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let reset = ServerAction::<ResetPassword>::new();
    let token = token_from_query();
    let done = move || matches!(reset.value().get(), Some(Ok(())));
    view! {
        <Title text="Choose a new password" />
        <section class="auth">
            <h1>"Choose a new password"</h1>
            <Show when=done fallback=move || view! {
                <ActionForm action=reset attr:class="form">
                    <input type="hidden" name="token" value=token />
                    <label>
                        "New password"
                        <input type="password" name="new_password" autocomplete="new-password" required />
                    </label>
                    <ServerError result=reset.value() />
                    <button type="submit" data-testid="reset-password">"Set the new password"</button>
                </ActionForm>
            }>
                <p data-testid="password-reset-done">
                    "Your password is changed. Every device was signed out and your API keys were revoked."
                </p>
                <p><A href="/sign-in">"Sign in"</A></p>
            </Show>
        </section>
    }
}
