//! Meritree's isomorphic UI.
//!
//! Built twice: with `ssr` into the server, which renders every page to HTML
//! and runs the server functions; with `hydrate` into the wasm32 client,
//! which takes over that HTML in the browser.

pub mod components;
#[cfg(feature = "ssr")]
pub mod csp;
pub mod live;
pub mod pages;
pub mod push;
pub mod server_fns;
pub mod session;
pub mod telegram;
pub mod wallet;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, Meta, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::components::site_header::SiteHeader;
use crate::pages::{
    account::AccountPage,
    admin::AdminPage,
    api_reference::ApiReferencePage,
    earning::{
        leaderboard::LeaderboardPage, member::MemberPage, round::RoundPage, search::SearchPage,
        submission::SubmissionPage, submit::SubmitPage,
    },
    email::{ForgotPasswordPage, ResetPasswordPage, VerifyEmailPage},
    home::HomePage,
    network::NetworkPage,
    nodes::NodesPage,
    not_found::NotFound,
    notifications::NotificationsPage,
    playground::PlaygroundPage,
    rewards::RewardsPage,
    rounds::RoundsPage,
    sign_in::SignInPage,
    sign_up::SignUpPage,
    status::StatusPage,
    task::TaskPage,
    telegram::{TelegramBackButton, TelegramPage},
};
use crate::session::Session;

/// The HTML document around the app; rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    csp::set_for_page();
    // Named after the bundle's content hash, so only the server knows it.
    let stylesheet = format!("/{}/{}.css", options.site_pkg_dir, options.output_name);
    // Every script carries the page's nonce, loaded from this site or not.
    let nonce = leptos::nonce::use_nonce();
    // Telegram's script comes first, as Telegram asks, and only on its page.
    #[cfg(feature = "ssr")]
    let telegram = csp::is_mini_app()
        .then(|| view! { <script src=csp::TELEGRAM_SCRIPT nonce=nonce.clone()></script> });
    #[cfg(not(feature = "ssr"))]
    let telegram: Option<()> = None;
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="theme-color" content="#2f7d4f" />
                {telegram}
                <link rel="stylesheet" href=stylesheet />
                <link rel="manifest" href="/manifest.webmanifest" />
                <link rel="apple-touch-icon" href="/icons/icon-192.png" />
                <script type="module" src="/pwa.js" nonce=nonce></script>
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    Session::provide();
    provide_context(components::notification_bell::NotificationsChanged(
        RwSignal::new(0),
    ));
    live::Live::provide();
    mark_hydrated();

    view! {
        <Title formatter=|page: String| format!("{page} · Meritree") />
        <Meta name="description" content="AI work that pays: earn points for good, original work and claim them as tokens." />
        <Link rel="icon" href="/favicon.svg" type_="image/svg+xml" />
        <Router>
            <SiteHeader />
            <TelegramBackButton />
            <main>
                <Routes fallback=NotFound>
                    <Route path=path!("/") view=HomePage />
                    // Async: crawlers and the first paint get the full report.
                    <Route path=path!("/status") view=StatusPage ssr=SsrMode::Async />
                    <Route path=path!("/docs/api") view=ApiReferencePage ssr=SsrMode::Async />
                    <Route path=path!("/sign-up") view=SignUpPage />
                    <Route path=path!("/sign-in") view=SignInPage />
                    <Route path=path!("/forgot-password") view=ForgotPasswordPage />
                    <Route path=path!("/reset-password") view=ResetPasswordPage />
                    <Route path=path!("/verify-email") view=VerifyEmailPage />
                    <Route path=path!("/account") view=AccountPage ssr=SsrMode::Async />
                    <Route path=path!("/notifications") view=NotificationsPage ssr=SsrMode::Async />
                    <Route path=path!("/admin") view=AdminPage ssr=SsrMode::Async />
                    <Route path=path!("/rewards") view=RewardsPage ssr=SsrMode::Async />
                    <Route path=path!("/playground") view=PlaygroundPage ssr=SsrMode::Async />
                    // Async: the public record is crawlable.
                    <Route path=path!("/rounds") view=RoundsPage ssr=SsrMode::Async />
                    // Async: the public pages of work are crawlable.
                    <Route path=path!("/rounds/:n") view=RoundPage ssr=SsrMode::Async />
                    <Route path=path!("/s/:id") view=SubmissionPage ssr=SsrMode::Async />
                    <Route path=path!("/u/:handle") view=MemberPage ssr=SsrMode::Async />
                    <Route path=path!("/leaderboard") view=LeaderboardPage ssr=SsrMode::Async />
                    <Route path=path!("/search") view=SearchPage ssr=SsrMode::Async />
                    <Route path=path!("/submit") view=SubmitPage />
                    <Route path=path!("/network") view=NetworkPage ssr=SsrMode::Async />
                    <Route path=path!("/nodes") view=NodesPage ssr=SsrMode::Async />
                    <Route path=path!("/tasks/:id") view=TaskPage ssr=SsrMode::Async />
                    // The Telegram Mini App (csp::MINI_APP_PATH).
                    <Route path=path!("/tg") view=TelegramPage />
                </Routes>
            </main>
            <components::outdated_client::OutdatedClient />
        </Router>
    }
}

/// Sets `data-hydrated` on `<body>` once the client has taken over the page.
/// Effects never run on the server, so the attribute's presence proves that
/// the wasm client loaded and hydrated; tests wait for it.
fn mark_hydrated() {
    Effect::new(|_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
