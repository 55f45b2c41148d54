use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use meritree_core::accounts::AccountView;

use crate::components::wallet::embedded::{BackUpEmbeddedWallet, CreateEmbeddedWallet};
use crate::components::wallet::injected::BindInjectedWallet;

mod ai_spending;
mod api_keys;
pub(crate) mod confirm_identity;
mod handle;
mod sessions;
mod two_factor;
use crate::components::server_error::ServerError;
use crate::server_fns::auth::SignOut;
use crate::server_fns::email::ResendVerification;
use crate::server_fns::telegram::UnlinkTelegram;
use crate::session::Session;

/// `/account`: the signed-in account's details, wallet, two-factor
/// authentication, API keys, AI spending and sessions.
#[component]
pub fn AccountPage() -> impl IntoView {
    let session = Session::get();
    provide_context(two_factor::ShownRecoveryCodes(RwSignal::new(None)));
    view! {
        <Title text="Your account" />
        <section class="account">
            <h1>"Your account"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match session.account.await {
                        Ok(Some(account)) => view! { <AccountDetails account /> }.into_any(),
                        Ok(None) => view! {
                            <p data-testid="signed-out">
                                "You are not signed in. " <A href="/sign-in">"Sign in"</A>
                            </p>
                        }.into_any(),
                        Err(err) => view! { <p class="error" role="alert">{err.message}</p> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn AccountDetails(account: AccountView) -> impl IntoView {
    let session = Session::get();
    let sign_out = ServerAction::<SignOut>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if matches!(sign_out.value().get(), Some(Ok(()))) {
            session.reload();
            navigate("/", Default::default());
        }
    });
    let resend = ServerAction::<ResendVerification>::new();
    let unverified = account.email.is_some() && !account.email_verified;
    let has_wallet = account.wallet.is_some();
    let handle = account.handle.clone();
    let totp_enabled = account.totp_enabled;
    let telegram_id = account.telegram_id;
    let unlink_telegram = ServerAction::<UnlinkTelegram>::new();
    Effect::new(move |_| {
        if matches!(unlink_telegram.value().get(), Some(Ok(_))) {
            session.reload();
        }
    });
    view! {
        <dl class="summary">
            <dt>"Email"</dt>
            <dd data-testid="account-email">{account.email.unwrap_or_else(|| "—".into())}</dd>
            <Show when=move || unverified>
                <dd data-testid="email-unverified">
                    "Not confirmed yet: open the link we emailed you. "
                    <ActionForm action=resend attr:class="inline">
                        <button type="submit" data-testid="resend-verification">"Send the link again"</button>
                    </ActionForm>
                    <Show when=move || matches!(resend.value().get(), Some(Ok(())))>
                        <span data-testid="verification-sent">" Sent."</span>
                    </Show>
                </dd>
            </Show>
            <dt>"Wallet"</dt>
            <dd data-testid="account-wallet">{account.wallet.unwrap_or_else(|| "none bound".into())}</dd>
            {telegram_id.map(|id| view! {
                <dt>"Telegram"</dt>
                <dd data-testid="account-telegram">
                    {format!("user {id} signs in here from the Telegram app ")}
                    <ActionForm action=unlink_telegram attr:class="inline">
                        <button type="submit" data-testid="unlink-telegram">"Unlink"</button>
                    </ActionForm>
                    <ServerError result=unlink_telegram.value() />
                </dd>
            })}
            <dt>"Role"</dt>
            <dd>{account.role.as_str()}</dd>
        </dl>
        <handle::PublicHandle current=handle />
        <confirm_identity::ConfirmIdentity />
        <Show when=move || !has_wallet fallback=|| view! { <BackUpEmbeddedWallet /> }>
            <BindInjectedWallet />
            <CreateEmbeddedWallet />
        </Show>
        <two_factor::TwoFactor enabled=totp_enabled />
        <api_keys::ApiKeys />
        <ai_spending::AiSpendingBox />
        <sessions::Sessions />
        <ActionForm action=sign_out>
            <button type="submit" data-testid="sign-out">"Sign out"</button>
        </ActionForm>
    }
}
