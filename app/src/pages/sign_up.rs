use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use meritree_core::accounts::{Email, NewPassword};

use crate::components::server_error::ServerError;
use crate::server_fns::auth::Register;
use crate::session::signed_in_goes_to_account;

/// `/sign-up`: create an account with an email and a password. The fields are
/// checked as you type with the same rules the server applies.
#[component]
pub fn SignUpPage() -> impl IntoView {
    let register = ServerAction::<Register>::new();
    let (email, set_email) = signal(String::new());
    let (password, set_password) = signal(String::new());

    let email_problem = move || {
        let email = email.get();
        (!email.is_empty())
            .then(|| Email::parse(&email).err().map(|e| e.to_string()))
            .flatten()
    };
    let password_problem = move || {
        let password = password.get();
        let email = Email::parse(&email.get()).ok();
        (!password.is_empty())
            .then(|| {
                NewPassword::parse(&password, email.as_ref())
                    .err()
                    .map(|e| e.to_string())
            })
            .flatten()
    };
    let invalid = move || {
        Email::parse(&email.get()).is_err()
            || NewPassword::parse(&password.get(), Email::parse(&email.get()).ok().as_ref())
                .is_err()
    };
    signed_in_goes_to_account(register.value());

    view! {
        <Title text="Sign up" />
        <section class="auth">
            <h1>"Create your account"</h1>
            <ActionForm action=register attr:class="form">
                <label>
                    "Email"
                    <input type="email" name="email" autocomplete="email" required
                        on:input=move |ev| set_email.set(event_target_value(&ev)) />
                </label>
                <p class="field-error" data-testid="email-error">{email_problem}</p>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="new-password" required
                        minlength=NewPassword::MIN_CHARS.to_string()
                        on:input=move |ev| set_password.set(event_target_value(&ev)) />
                </label>
                <p class="field-error" data-testid="password-error">{password_problem}</p>
                <ServerError result=register.value() />
                <button type="submit" disabled=move || invalid() || register.pending().get()>
                    "Sign up"
                </button>
            </ActionForm>
            <p>"Already have an account? " <A href="/sign-in">"Sign in"</A></p>
        </section>
    }
}
