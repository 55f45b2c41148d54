//! `/tg`: the Telegram Mini App. Telegram opens it with launch data signed
//! for this server's bot; the page signs that Telegram user in — to the
//! account linked to them, a new one if they ask, or, after they sign in
//! with their email, links Telegram to the account they already have.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use meritree_core::accounts::AccountView;
use meritree_core::ErrorCode;

use crate::components::server_error::ServerError;
use crate::pages::sign_in::PasswordSignInForm;
use crate::server_fns::auth::SignIn;
use crate::server_fns::telegram::{link_telegram, telegram_sign_in};
use crate::session::Session;
use crate::telegram;

/// What Telegram's main button does in the page's current state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MainAction {
    Hidden,
    CreateAccount,
    OpenApp,
}

#[component]
pub fn TelegramPage() -> impl IntoView {
    let session = Session::get();
    // `None` until the browser has looked for Telegram; then the launch
    // data, or `None` outside Telegram.
    let launch = RwSignal::new(None::<Option<String>>);
    let launch_data = move || launch.get_untracked().flatten().unwrap_or_default();
    let totp_code = RwSignal::new(String::new());
    let sign_in = Action::new(move |create_account: &bool| {
        let (init_data, create_account) = (launch_data(), *create_account);
        let code = Some(totp_code.get_untracked()).filter(|code| !code.trim().is_empty());
        async move { telegram_sign_in(init_data, create_account, code).await }
    });
    let link = Action::new(move |_: &()| {
        let init_data = launch_data();
        async move { link_telegram(init_data).await }
    });
    let password_sign_in = ServerAction::<SignIn>::new();

    Effect::new(move |_| {
        telegram::start();
        launch.set(Some(telegram::init_data()));
    });
    // Once the page knows nobody is signed in here, Telegram signs in (to
    // an account already linked; nothing is created without asking).
    let tried = StoredValue::new(false);
    Effect::new(move |_| {
        let in_telegram = matches!(launch.get(), Some(Some(_)));
        let signed_out = matches!(session.account.get(), Some(Ok(None)));
        if in_telegram && signed_out && !tried.get_value() {
            tried.set_value(true);
            sign_in.dispatch(false);
        }
    });
    Effect::new(move |_| {
        // Each read, so each is tracked (`||` would skip the later ones).
        let succeeded = [
            matches!(sign_in.value().get(), Some(Ok(_))),
            matches!(password_sign_in.value().get(), Some(Ok(_))),
            matches!(link.value().get(), Some(Ok(_))),
        ];
        if succeeded.contains(&true) {
            session.reload();
        }
    });

    let account = move || session.account.get().and_then(Result::ok).flatten();
    let not_linked = move || {
        sign_in
            .value()
            .with(|result| matches!(result, Some(Err(e)) if e.code == ErrorCode::TelegramNotLinked))
    };
    let needs_code = move || {
        sign_in.value().with(|result| {
            matches!(result, Some(Err(e)) if matches!(e.code, ErrorCode::TotpRequired | ErrorCode::InvalidTotp))
        })
    };
    let main_action = Memo::new(move |_| {
        if account().is_some() {
            MainAction::OpenApp
        } else if not_linked() && !sign_in.pending().get() {
            MainAction::CreateAccount
        } else {
            MainAction::Hidden
        }
    });
    // Registered as the page is built (in the browser Telegram's script
    // has run by then); removed with it.
    let navigate = use_navigate();
    telegram::on_press("MainButton", move || {
        match main_action.try_get_untracked() {
            Some(MainAction::CreateAccount) => {
                sign_in.dispatch(true);
            }
            Some(MainAction::OpenApp) => navigate("/", Default::default()),
            _ => {}
        }
    });
    Effect::new(move |_| {
        telegram::main_button(match main_action.get() {
            MainAction::Hidden => None,
            MainAction::CreateAccount => Some("Create my Meritree account"),
            MainAction::OpenApp => Some("Open Meritree"),
        });
    });
    on_cleanup(|| telegram::main_button(None));

    let signed_in_view = move |account: AccountView| {
        let name = account
            .handle
            .clone()
            .or(account.email.clone())
            .unwrap_or_else(|| "your Telegram account".to_owned());
        let linked = account.telegram_id.is_some();
        view! {
            <p data-testid="tg-signed-in">"Signed in as " <strong>{name}</strong> "."</p>
            {if linked {
                view! { <p data-testid="tg-linked">"Telegram signs you in to this account."</p> }.into_any()
            } else {
                view! {
                    <p>"Link this Telegram account, and opening Meritree from Telegram signs you in here."</p>
                    <button type="button" data-testid="tg-link" disabled=move || link.pending().get()
                        on:click=move |_| { link.dispatch(()); }>
                        "Link this Telegram account"
                    </button>
                    <ServerError result=link.value() />
                }
                .into_any()
            }}
            <p><A href="/">"Open Meritree"</A></p>
        }
    };
    let signed_out_view = move || {
        if sign_in.pending().get() {
            return view! { <p class="muted" role="status">"Signing in with Telegram…"</p> }
                .into_any();
        }
        if not_linked() {
            return view! {
                <p data-testid="tg-not-linked">"No Meritree account is linked to this Telegram account yet."</p>
                <button type="button" data-testid="tg-create" on:click=move |_| { sign_in.dispatch(true); }>
                    "Create my Meritree account"
                </button>
                <h2>"I already have an account"</h2>
                <p>"Sign in to it, then link this Telegram account."</p>
                <PasswordSignInForm sign_in=password_sign_in />
            }
            .into_any();
        }
        view! {
            <Show when=needs_code>
                <form class="form" on:submit=move |ev| { ev.prevent_default(); sign_in.dispatch(false); }>
                    <label>
                        "Code from your authenticator app (or a recovery code)"
                        <input type="text" name="totp_code" autocomplete="one-time-code" maxlength="19" required
                            on:input=move |ev| totp_code.set(event_target_value(&ev)) />
                    </label>
                    <button type="submit">"Sign in"</button>
                </form>
            </Show>
            <ServerError result=Signal::derive(move || sign_in.value().get().filter(|_| !needs_code())) />
        }
        .into_any()
    };

    view! {
        <Title text="Telegram" />
        <section class="auth telegram">
            <h1>"Meritree in Telegram"</h1>
            {move || match launch.get() {
                None => view! { <p class="muted">"Opening…"</p> }.into_any(),
                Some(None) => view! {
                    <p data-testid="tg-outside">
                        "This page is Meritree's Telegram Mini App: open it from our bot in Telegram. In a browser, "
                        <A href="/sign-in">"sign in here"</A> "."
                    </p>
                }
                .into_any(),
                Some(Some(_)) => match account() {
                    Some(account) => signed_in_view(account).into_any(),
                    None => signed_out_view(),
                },
            }}
        </section>
    }
}

/// Inside Telegram, its back button goes back on every page but the Mini
/// App's own (where Telegram's close button is the way out).
#[component]
pub fn TelegramBackButton() -> impl IntoView {
    let location = leptos_router::hooks::use_location();
    telegram::on_press("BackButton", || {
        let _ = window().history().and_then(|history| history.back());
    });
    Effect::new(move |_| telegram::back_button(location.pathname.get() != "/tg"));
}
