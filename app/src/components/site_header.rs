use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::notification_bell::NotificationBell;
use crate::session::Session;

/// The bar at the top of every page: navigation and who is signed in.
#[component]
pub fn SiteHeader() -> impl IntoView {
    let session = Session::get();
    view! {
        <header class="site-header">
            <A href="/" attr:class="brand">
                "Meritree"
            </A>
            <nav>
                <A href="/leaderboard">"Leaderboard"</A>
                <A href="/search">"Search"</A>
                <A href="/rounds">"Rounds"</A>
                <A href="/network">"Network"</A>
                <A href="/status">"Status"</A>
                <A href="/docs/api">"API"</A>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        match session.account.await {
                            Ok(Some(account)) => view! {
                                <A href="/submit" attr:data-testid="header-submit">"Submit"</A>
                                <A href="/rewards" attr:data-testid="header-rewards">"Rewards"</A>
                                <A href="/playground" attr:data-testid="header-playground">"Playground"</A>
                                {(account.role == meritree_core::accounts::Role::Admin).then(|| view! {
                                    <A href="/admin" attr:data-testid="header-admin">"Admin"</A>
                                })}
                                <NotificationBell />
                                <A href="/account" attr:data-testid="header-account">
                                    {account.email.unwrap_or_else(|| "Account".into())}
                                </A>
                            }.into_any(),
                            _ => view! {
                                <A href="/sign-in" attr:data-testid="header-sign-in">"Sign in"</A>
                                <A href="/sign-up">"Sign up"</A>
                            }.into_any(),
                        }
                    })}
                </Transition>
            </nav>
        </header>
    }
}
