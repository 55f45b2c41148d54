//! `/admin`: the console admins run the platform from. Every section is
//! behind the same check as the admin API (an admin's session with a
//! proof of identity from the last ten minutes), so the page shows the
//! confirmation form first and each section says when it is refused.

mod accounts;
mod ai;
mod audit;
mod chain;
mod evaluations;
mod moderation;

use leptos::prelude::*;
use meritree_core::accounts::Role;

use crate::components::site_header::SiteHeader;
use crate::pages::account::confirm_identity::ConfirmIdentity;
use crate::session::Session;

#[component]
pub fn AdminPage() -> impl IntoView {
    let session = Session::get();
    view! {
        <SiteHeader />
        <main class="page">
            <h1>"Admin console"</h1>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match session.account.await {
                        Ok(Some(account)) if account.role == Role::Admin => view! { <Console /> }.into_any(),
                        Ok(Some(_)) => view! {
                            <p class="error" role="alert" data-testid="admin-only">"Only admins can use the console."</p>
                        }.into_any(),
                        _ => view! {
                            <p>"Sign in as an admin to use the console."</p>
                        }.into_any(),
                    }
                })}
            </Transition>
        </main>
    }
}

#[component]
fn Console() -> impl IntoView {
    view! {
        <ConfirmIdentity />
        <accounts::Accounts />
        <moderation::ModerationQueue />
        <evaluations::DeadEvaluations />
        <ai::AiProviders />
        <chain::Chain />
        <audit::AuditLog />
    }
}
