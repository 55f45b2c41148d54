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

/// The public client's files are the full client's name with this suffix
/// (`pkg/meritree.<hash>.public.js`); `scripts/build` names them so.
pub const PUBLIC_CLIENT_SUFFIX: &str = "public";

/// The base name of the public client's files, from the full client's
/// (`meritree.<hash>` → `meritree.<hash>.public`).
pub fn public_client_name(output_name: &str) -> String {
    format!("{output_name}.{PUBLIC_CLIENT_SUFFIX}")
}

/// The HTML document around a page hydrated by the full client (every
/// page); rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    html_document(options, Client::Full)
}

/// Which wasm client takes over a page (docs/decisions/0040).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// Every page; what the full client hydrates ([`App`]).
    Full,
    /// The public pages (the routes of [`PublicApp`]): a fraction of the
    /// full client, without the wallet, the playground and the signed-in
    /// pages.
    Public,
}

/// The HTML document around a page, naming the client that takes it over;
/// rendered on the server only.
pub fn html_document(options: LeptosOptions, client: Client) -> impl IntoView {
    #[cfg(feature = "ssr")]
    csp::set_for_page();
    // Named after the bundle's content hash, so only the server knows it.
    let stylesheet = format!("/{}/{}.css", options.site_pkg_dir, options.output_name);
    let scripts = match client {
        Client::Full => leptos::either::Either::Left(view! { <HydrationScripts options /> }),
        Client::Public => leptos::either::Either::Right(view! { <HydrateWhenIdle options /> }),
    };
    // Every script carries the page's nonce, loaded from this site or not.
    let nonce = leptos::nonce::use_nonce();
    // Telegram's script comes first, as Telegram asks, and only on its page.
    #[cfg(feature = "ssr")]
    let telegram = csp::is_mini_app()
        .then(|| view! { <script src=csp::TELEGRAM_SCRIPT nonce=nonce.clone()></script> });
    #[cfg(not(feature = "ssr"))]
    let telegram: Option<()> = None;
    let app = match client {
        Client::Full => leptos::either::Either::Left(view! { <App /> }),
        Client::Public => leptos::either::Either::Right(view! { <PublicApp /> }),
    };
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
                {scripts}
                <MetaTags />
            </head>
            <body>{app}</body>
        </html>
    }
}

/// How a public page loads its client: as Leptos's `HydrationScripts` with
/// `defer` does (the module imported once the page is idle, at most 2 s
/// later), but with no early fetch of the wasm, so the page paints before
/// the client's bytes take the connection. Public pages are read before they
/// are used; the full client's pages (forms, wallets) hydrate at once. The
/// script is still preloaded, at low priority: it names the release the live
/// socket reports (frontend's `live`).
#[component]
fn HydrateWhenIdle(options: LeptosOptions) -> impl IntoView {
    let nonce = leptos::nonce::use_nonce();
    let name = format!(
        "/{}/{}",
        options.site_pkg_dir,
        public_client_name(&options.output_name)
    );
    let script = format!("{name}.js");
    let loader = format!(
        "const hydrate = () => import({script:?}).then((client) => \
         client.default({{ module_or_path: {wasm:?} }}).then(() => client.hydrate())); \
         if (\"requestIdleCallback\" in window) {{ window.requestIdleCallback(hydrate, {{ timeout: 2000 }}); }} \
         else {{ hydrate(); }}",
        wasm = format!("{name}_bg.wasm"),
    );
    view! {
        <link rel="modulepreload" href=script fetchpriority="low" />
        <script type="module" nonce=nonce>{loader}</script>
    }
}

/// Every page: what the full client hydrates.
#[component]
pub fn App() -> impl IntoView {
    view! {
        <Frame>
            <Routes fallback=NotFound>
                <PublicRoutes />
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
                <Route path=path!("/submit") view=SubmitPage />
                <Route path=path!("/network") view=NetworkPage ssr=SsrMode::Async />
                <Route path=path!("/nodes") view=NodesPage ssr=SsrMode::Async />
                <Route path=path!("/tasks/:id") view=TaskPage ssr=SsrMode::Async />
                // The Telegram Mini App (csp::MINI_APP_PATH).
                <Route path=path!("/tg") view=TelegramPage />
            </Routes>
        </Frame>
    }
}

/// The public pages only: what the public client hydrates. A link to any
/// other page is loaded whole, which brings the full client.
#[component]
pub fn PublicApp() -> impl IntoView {
    view! {
        <Frame>
            <Routes fallback=LoadWholePage>
                <PublicRoutes />
            </Routes>
        </Frame>
    }
}

/// The pages anyone can read, most visited first: the public client's
/// routes, and the full client's too.
#[component(transparent)]
fn PublicRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    view! {
        <Route path=path!("/") view=HomePage />
        // Async: the public record and the public pages of work are crawlable.
        <Route path=path!("/rounds") view=RoundsPage ssr=SsrMode::Async />
        <Route path=path!("/rounds/:n") view=RoundPage ssr=SsrMode::Async />
        <Route path=path!("/s/:id") view=SubmissionPage ssr=SsrMode::Async />
        <Route path=path!("/u/:handle") view=MemberPage ssr=SsrMode::Async />
        <Route path=path!("/leaderboard") view=LeaderboardPage ssr=SsrMode::Async />
        <Route path=path!("/search") view=SearchPage ssr=SsrMode::Async />
    }
    .into_inner()
}

/// What both clients share around the routes: the header, the session,
/// live notices and the release check.
#[component]
fn Frame(children: Children) -> impl IntoView {
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
            <main>{children()}</main>
            <components::outdated_client::OutdatedClient />
        </Router>
    }
}

/// The public client's answer to an address it has no page for: load that
/// address whole, so the server sends it with the full client. The server
/// renders only [`PublicApp`]'s routes with the public client, so a page
/// loaded this way never comes back here.
#[component]
fn LoadWholePage() -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    Effect::new(move |_| {
        let search = location.search.get();
        let href = format!(
            "{}{}{search}{}",
            location.pathname.get(),
            if search.is_empty() { "" } else { "?" },
            location.hash.get()
        );
        let _ = window().location().assign(&href);
    });
    view! { <p class="muted" role="status">"Loading…"</p> }
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
