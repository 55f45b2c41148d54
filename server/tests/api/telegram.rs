//! Telegram sign-in from the Mini App, through both doors: launch data
//! signed with a test bot's token, as Telegram signs it.

use meritree_core::accounts::AccountView;
use meritree_core::telegram::{sign_init_data, MAX_AGE_SECS};
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    age_proof, error_code, spawn_app, spawn_app_with, unix_now, Session, TestApp, PASSWORD,
};

pub const BOT_TOKEN: &str = "7000001:test-bot-token-for-the-mini-app";

async fn spawn_with_bot(backend: Backend) -> TestApp {
    spawn_app_with(backend, |settings| {
        settings.telegram.bot_token = BOT_TOKEN.into();
    })
    .await
}

/// What Telegram hands the Mini App when user `id` opens it, `age` seconds
/// ago; `launch` makes each launch distinct, as Telegram's `query_id` does.
pub fn launch_data(id: i64, age: i64, launch: &str) -> String {
    let user = json!({ "id": id, "first_name": "Ann", "username": "ann_tg" }).to_string();
    let auth_date = (unix_now() as i64 - age).to_string();
    sign_init_data(
        &[
            ("auth_date", &auth_date),
            ("query_id", launch),
            ("user", &user),
        ],
        BOT_TOKEN,
    )
}

async fn login(
    app: &TestApp,
    init_data: &str,
    create_account: bool,
) -> (reqwest::Response, Session) {
    let mut session = Session::default();
    let response = app
        .post_json(
            "/api/v1/auth/telegram/login",
            &mut session,
            json!({ "init_data": init_data, "create_account": create_account }),
        )
        .await;
    (response, session)
}

/// The pages' door: the server function, form-encoded from our origin.
async fn sign_in_page(
    app: &TestApp,
    init_data: &str,
    create_account: bool,
) -> (reqwest::Response, Session) {
    let create = if create_account { "true" } else { "false" };
    let response = app
        .request(Method::POST, "/api/telegram/sign_in", &Session::default())
        .form(&[("init_data", init_data), ("create_account", create)])
        .send()
        .await
        .unwrap();
    let mut session = Session::default();
    session.absorb(&response);
    (response, session)
}

async fn page_error(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    body["code"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

async fn me(app: &TestApp, session: &Session) -> AccountView {
    serde_json::from_value(app.get_json("/api/v1/user/me", session).await).unwrap()
}

test_both_backends! {
    async fn a_telegram_user_signs_in_once_per_launch_through_both_doors(backend: Backend) {
        let app = spawn_with_bot(backend).await;
        let first = launch_data(4242, 5, "launch-1");

        // No account yet: the member is asked, nothing is used up.
        let (response, _) = login(&app, &first, false).await;
        assert_eq!(response.status(), 404);
        assert_eq!(error_code(response).await, "telegram_not_linked");
        let (response, _) = sign_in_page(&app, &first, false).await;
        assert_eq!(page_error(response).await, "telegram_not_linked");

        // They choose a new account: the same launch signs in.
        let (response, session) = login(&app, &first, true).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let account = me(&app, &session).await;
        assert_eq!(account.telegram_id, Some(4242));
        assert_eq!((account.email, account.wallet), (None, None));

        // A launch signs in once, through either door.
        let (response, _) = login(&app, &first, true).await;
        assert_eq!(error_code(response).await, "telegram_data_used");
        let (response, _) = sign_in_page(&app, &first, true).await;
        assert_eq!(page_error(response).await, "telegram_data_used");

        // The next launch signs in to the same account, from the page.
        let (response, session) = sign_in_page(&app, &launch_data(4242, 1, "launch-2"), false).await;
        assert_eq!(response.status(), 200);
        assert_eq!(me(&app, &session).await.id, account.id);
        app.stop().await;
    }

    async fn tampered_stale_or_foreign_launch_data_is_refused(backend: Backend) {
        let app = spawn_with_bot(backend).await;
        let good = launch_data(4242, 5, "launch-1");
        let other_user = json!({ "id": 1, "first_name": "Eve" }).to_string();
        let user_field = good.split('&').find(|f| f.starts_with("user=")).unwrap();
        let tampered = good.replace(
            user_field,
            &format!("user={}", meritree_core::encoding::percent_encode(&other_user)),
        );
        let foreign = sign_init_data(
            &[("auth_date", &unix_now().to_string()), ("user", r#"{"id":4242,"first_name":"Ann"}"#)],
            "7000002:another-bot",
        );
        let cases = [
            (tampered.as_str(), "telegram_data_invalid"),
            (foreign.as_str(), "telegram_data_invalid"),
            (&launch_data(4242, MAX_AGE_SECS + 60, "old"), "telegram_data_expired"),
            (&launch_data(4242, -600, "future"), "telegram_data_expired"),
            ("user=%7B%7D&auth_date=1", "telegram_data_malformed"),
            ("hash=zz", "telegram_data_malformed"),
        ];
        for (init_data, code) in cases {
            let (response, session) = login(&app, init_data, true).await;
            assert_eq!(error_code(response).await, code, "{init_data}");
            assert!(session.access.is_none());
            let (response, _) = sign_in_page(&app, init_data, true).await;
            assert_eq!(page_error(response).await, code, "{init_data}");
        }
        // The good one was never used up by its tampered copies.
        let (response, _) = login(&app, &good, true).await;
        assert_eq!(response.status(), 200);
        app.stop().await;
    }

    async fn linking_is_one_to_one_and_never_strands_an_account(backend: Backend) {
        let app = spawn_with_bot(backend).await;
        let mut ann = app.register("ann@example.org").await;

        // Ann links Telegram to her email account (just signed up: fresh).
        let first_launch = launch_data(4242, 5, "a");
        let linked = app
            .post_json("/api/v1/user/telegram", &mut ann, json!({ "init_data": first_launch }))
            .await;
        assert_eq!(linked.status(), 200, "{}", linked.text().await.unwrap());
        let linked: AccountView = linked.json().await.unwrap();
        assert_eq!(linked.telegram_id, Some(4242));

        // Telegram now signs in to her account.
        let (response, session) = login(&app, &launch_data(4242, 5, "b"), false).await;
        assert_eq!(response.status(), 200);
        assert_eq!(me(&app, &session).await.id, linked.id);

        // Nobody else can link the same Telegram user, and she cannot link
        // a second one.
        let mut bob = app.register("bob@example.org").await;
        let taken = app
            .post_json("/api/v1/user/telegram", &mut bob, json!({ "init_data": launch_data(4242, 5, "c") }))
            .await;
        assert_eq!(error_code(taken).await, "telegram_taken");
        let second = app
            .post_json("/api/v1/user/telegram", &mut ann, json!({ "init_data": launch_data(777, 5, "d") }))
            .await;
        assert_eq!(error_code(second).await, "telegram_already_linked");

        // Linking through the page needs a fresh proof too.
        age_proof(&app, &bob).await;
        let stale = app
            .request(Method::POST, "/api/telegram/link", &bob)
            .form(&[("init_data", launch_data(777, 5, "e"))])
            .send()
            .await
            .unwrap();
        assert_eq!(page_error(stale).await, "reauthentication_required");

        // Ann can unlink (she keeps her password); a Telegram-only account
        // cannot strand itself.
        let unlinked = app.request(Method::DELETE, "/api/v1/user/telegram", &ann).send().await.unwrap();
        assert_eq!(unlinked.status(), 200);
        assert_eq!(unlinked.json::<AccountView>().await.unwrap().telegram_id, None);
        // The launch she linked with, used already, creates nothing.
        let (replayed, _) = login(&app, &first_launch, true).await;
        assert_eq!(error_code(replayed).await, "telegram_data_used");
        let (response, _) = login(&app, &launch_data(4242, 5, "g"), false).await;
        assert_eq!(error_code(response).await, "telegram_not_linked");
        let (_, only) = login(&app, &launch_data(999, 5, "f"), true).await;
        let refused = app.request(Method::DELETE, "/api/v1/user/telegram", &only).send().await.unwrap();
        assert_eq!(error_code(refused).await, "last_sign_in_method");
        assert_eq!(me(&app, &only).await.telegram_id, Some(999));

        // Her password still signs in.
        let mut again = Session::default();
        let signed_in = app
            .post_json("/api/v1/auth/login", &mut again, json!({ "email": "ann@example.org", "password": PASSWORD }))
            .await;
        assert_eq!(signed_in.status(), 200);
        app.stop().await;
    }

    async fn without_a_bot_token_telegram_sign_in_is_off(backend: Backend) {
        let app = spawn_app(backend).await;
        let (response, _) = login(&app, &launch_data(4242, 5, "a"), true).await;
        assert_eq!(response.status(), 404);
        assert_eq!(error_code(response).await, "telegram_disabled");
        app.stop().await;
    }
}
