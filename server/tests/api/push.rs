//! Web Push: a member's browser subscribes, and their notices reach it
//! through its push service, encrypted for it alone and signed as this
//! server; what the push service cannot take now is sent again, what it
//! says is gone is forgotten; what no browser
//! sends, or a push service the server does not send to, is refused
//! through both doors.

use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::fake_judge::{judged_by, scores, start_judge};
use crate::helpers::{error_code, spawn_app_with, Session, TestApp};
use crate::push_service::{check_vapid, Browser, PushService};
use crate::work::{evaluated, member, submit};

/// An app that sends to the local push service (plain HTTP, on 127.0.0.1).
async fn app_pushing_locally(backend: Backend) -> TestApp {
    spawn_app_with(backend, |settings| {
        settings.push.services = vec!["127.0.0.1:*".into()];
        settings.push.allow_http = true;
        settings.push.subject = Some("mailto:ops@meritree.example".into());
    })
    .await
}

async fn server_key(app: &TestApp) -> String {
    let key = app.get("/api/v1/push/key").await;
    assert_eq!(key.status(), 200);
    let key: serde_json::Value = key.json().await.unwrap();
    key["public_key"].as_str().unwrap().to_owned()
}

async fn subscribe(
    app: &TestApp,
    session: &Session,
    subscription: serde_json::Value,
) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/user/push-subscriptions", session)
        .json(&subscription)
        .send()
        .await
        .unwrap()
}

/// The same through the pages' server function.
async fn subscribe_page(
    app: &TestApp,
    session: &Session,
    subscription: serde_json::Value,
) -> reqwest::Response {
    app.request(Method::POST, "/api/notifications/push_subscribe", session)
        .json(&json!({ "subscription": subscription }))
        .send()
        .await
        .unwrap()
}

async fn page_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    (
        status,
        body["code"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned(),
    )
}

test_both_backends! {
    async fn a_notice_reaches_a_subscribed_browser_encrypted_and_signed(backend: Backend) {
        let service = PushService::start().await;
        let app = app_pushing_locally(backend).await;
        let key = server_key(&app).await;
        assert_eq!(server_key(&app).await, key, "one key, kept");

        let ann = app.register("ann@example.org").await;
        let laptop = Browser::new(&service, "ann-laptop");
        assert_eq!(subscribe(&app, &ann, laptop.subscription()).await.status(), 204);
        // Subscribing the same browser again is one subscription.
        assert_eq!(subscribe(&app, &ann, laptop.subscription()).await.status(), 204);
        let phone = Browser::new(&service, "ann-phone");
        assert_eq!(subscribe_page(&app, &ann, phone.subscription()).await.status(), 200);

        app.create_api_key(&ann, "laptop").await;
        for (browser, name) in [(&laptop, "ann-laptop"), (&phone, "ann-phone")] {
            heard(&service, browser, name, "“laptop”").await;
            // (The sign-up's notice may reach it too: it was being sent.)
            let delivered: Vec<_> = service
                .deliveries(name)
                .into_iter()
                .filter(|delivery| browser.read(&delivery.body)["title"] == "New API key")
                .collect();
            assert_eq!(delivered.len(), 1, "{name}: one message per notice");
            let message = &delivered[0];
            let claims = check_vapid(message, &key, &service.origin);
            assert_eq!(claims["sub"], "mailto:ops@meritree.example");
            assert_eq!(message.headers["content-encoding"], "aes128gcm");
            assert_eq!(message.headers["ttl"], "86400");
            assert_eq!(message.headers["urgency"], "high", "a security notice");
            let notice = browser.read(&message.body);
            assert_eq!(notice["kind"], "security");
            assert_eq!(notice["title"], "New API key");
            assert!(notice["body"].as_str().unwrap().contains("“laptop”"));
            assert_eq!(notice["link"], "/account");
            // Only the subscribed browser's keys open it.
            assert!(std::panic::catch_unwind(|| Browser::new(&service, "x").read(&message.body)).is_err());
        }

        // A kind turned off is not pushed either.
        let muted = app.request(Method::PUT, "/api/v1/user/notification-preferences", &ann)
            .json(&json!({ "muted": ["security"] })).send().await.unwrap();
        assert_eq!(muted.status(), 200);
        app.create_api_key(&ann, "muted").await;
        // Unsubscribed (through the JSON door): nothing more for the laptop.
        let gone = app.request(Method::DELETE, "/api/v1/user/push-subscriptions", &ann)
            .json(&json!({ "endpoint": laptop.endpoint })).send().await.unwrap();
        assert_eq!(gone.status(), 204);
        let unmuted = app.request(Method::PUT, "/api/v1/user/notification-preferences", &ann)
            .json(&json!({ "muted": [] })).send().await.unwrap();
        assert_eq!(unmuted.status(), 200);
        app.create_api_key(&ann, "after").await;
        heard(&service, &phone, "ann-phone", "“after”").await;
        assert!(!said(&service, &phone, "ann-phone").iter().any(|b| b.contains("“muted”")),
            "the muted notice was never sent");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!said(&service, &laptop, "ann-laptop").iter().any(|b| b.contains("“after”")), "unsubscribed");
        app.stop().await;
    }

    async fn a_rounds_result_reaches_each_paid_members_browser_once(backend: Backend) {
        let service = PushService::start().await;
        let (url, _judge) = start_judge(scores(9, 8, 7)).await;
        let app = spawn_app_with(backend, |settings| {
            judged_by(settings, &url);
            settings.push.services = vec!["127.0.0.1:*".into()];
            settings.push.allow_http = true;
        })
        .await;
        let works = [
            ("ann", "A river poem", "The river keeps its own counsel,\nbending where the old stones ask it to."),
            ("bob", "Salt", "Salt on the window, the harbour asleep;\nthe gulls argue softly over what they keep."),
        ];
        let mut members = Vec::new();
        let mut round = 0;
        for (name, title, body) in works {
            let session = member(&app, &format!("{name}@example.org"), name).await;
            let browser = Browser::new(&service, name);
            assert_eq!(subscribe(&app, &session, browser.subscription()).await.status(), 204);
            let created = submit(&app, &session, title, body, name).await;
            assert_eq!(created.status(), 201);
            let id = created.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
            let work = evaluated(&app, &id).await;
            assert_eq!(work["status"], "scored", "{work}");
            round = work["round"].as_i64().unwrap();
            members.push((name, browser));
        }

        let later = meritree_platform::clock::unix_secs() + 3 * 600;
        app.platform.rounds().tick(later).await.unwrap();
        let paid = app.platform.competitions().pay_due(later).await.unwrap();
        assert_eq!((paid[0].round, paid[0].entries), (round, 2));
        let needle = format!("points in round {round}");
        for (name, browser) in &members {
            heard(&service, browser, name, &needle).await;
        }
        // Everything on its way has arrived by now; each heard it once.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        for (name, browser) in &members {
            let told = said(&service, browser, name).into_iter().filter(|b| b.contains(&needle)).count();
            assert_eq!(told, 1, "{name}");
        }
        app.stop().await;
    }

    async fn a_subscription_its_push_service_says_is_gone_is_forgotten(backend: Backend) {
        let service = PushService::start().await;
        let app = app_pushing_locally(backend).await;
        let ann = app.register("ann@example.org").await;
        let old = Browser::new(&service, "old");
        assert_eq!(subscribe(&app, &ann, old.subscription()).await.status(), 204);
        service.answer("old", 410);
        app.create_api_key(&ann, "one").await;
        service.wait_for("old", 1).await;
        let account = app.get_json("/api/v1/user/me", &ann).await;
        let account_id = account["id"].as_str().unwrap().to_owned();
        let db = meritree_store::Database::connect(&app.db().target, meritree_store::PoolOptions::default())
            .await.unwrap();
        let mut left = 1;
        for _ in 0..100 {
            left = meritree_store::push_subscriptions::for_account(&db, &account_id, crate::helpers::unix_now() as i64).await.unwrap().len();
            if left == 0 { break; }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(left, 0, "a 410 forgets the subscription");
        // Notices already on their way when it was forgotten (the sign-up's
        // own) may still reach it; nothing sent after.
        app.create_api_key(&ann, "two").await;
        let renewed = Browser::new(&service, "renewed");
        assert_eq!(subscribe(&app, &ann, renewed.subscription()).await.status(), 204);
        app.create_api_key(&ann, "three").await;
        heard(&service, &renewed, "renewed", "“three”").await;
        assert!(!said(&service, &old, "old").iter().any(|b| b.contains("“two”") || b.contains("“three”")),
            "nothing more sent where it was gone");

        // Another account cannot take a browser's subscription with keys of
        // its own: only the browser itself (its auth secret) moves it.
        let mallory = app.register("mallory@example.org").await;
        let mut hijack = Browser::new(&service, "elsewhere").subscription();
        hijack["endpoint"] = json!(renewed.endpoint);
        let taken = subscribe(&app, &mallory, hijack).await;
        assert_eq!(taken.status(), 409);
        assert_eq!(error_code(taken).await, "push_subscription_taken");

        // A browser is one person's at a time: Bob subscribing it on the
        // same device takes it over.
        let bob = app.register("bob@example.org").await;
        assert_eq!(subscribe(&app, &bob, renewed.subscription()).await.status(), 204);
        app.create_api_key(&ann, "ann's").await;
        app.create_api_key(&bob, "bob's").await;
        heard(&service, &renewed, "renewed", "“bob's”").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!said(&service, &renewed, "renewed").iter().any(|b| b.contains("“ann's”")),
            "Ann's notice did not go to Bob's browser");
        app.stop().await;
    }

    async fn a_message_the_push_service_cannot_take_now_is_sent_again(backend: Backend) {
        let service = PushService::start().await;
        let app = app_pushing_locally(backend).await;
        let ann = app.register("ann@example.org").await;
        let phone = Browser::new(&service, "phone");
        assert_eq!(subscribe(&app, &ann, phone.subscription()).await.status(), 204);
        // Once this one is heard, the sign-up's own notice is not on its way.
        app.create_api_key(&ann, "first").await;
        heard(&service, &phone, "phone", "“first”").await;

        // Its own trouble, then too many: taken at the third try, after the
        // default wait and then the one it asked for.
        service.answer_next("phone", 503, None);
        service.answer_next("phone", 429, Some(2));
        app.create_api_key(&ann, "later").await;
        let sent = tries(&service, &phone, "phone", "“later”", 3).await;
        assert!(sent[1].at - sent[0].at >= std::time::Duration::from_secs(1), "waited before the second try");
        assert!(sent[2].at - sent[1].at >= std::time::Duration::from_secs(2), "waited as long as it asked");

        // Never taken: three tries, then given up; the browser stays subscribed.
        for _ in 0..3 {
            service.answer_next("phone", 502, None);
        }
        app.create_api_key(&ann, "lost").await;
        tries(&service, &phone, "phone", "“lost”", 3).await;
        app.create_api_key(&ann, "kept").await;
        heard(&service, &phone, "phone", "“kept”").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(said(&service, &phone, "phone").iter().filter(|b| b.contains("“lost”")).count(), 3);
        app.stop().await;
    }

    async fn a_subscription_lasts_as_long_as_the_sign_in_that_made_it(backend: Backend) {
        let service = PushService::start().await;
        let app = app_pushing_locally(backend).await;
        let mut borrowed = app.register("ann@example.org").await;
        let intruder = Browser::new(&service, "intruder");
        assert_eq!(subscribe(&app, &borrowed, intruder.subscription()).await.status(), 204);
        // Ann's own browser, signed in separately.
        let own = app.sign_in("ann@example.org").await;
        let hers = Browser::new(&service, "hers");
        assert_eq!(subscribe(&app, &own, hers.subscription()).await.status(), 204);

        let out = app.post_json("/api/v1/auth/logout", &mut borrowed, json!({})).await;
        assert_eq!(out.status(), 204);
        app.create_api_key(&own, "after the borrowed laptop").await;
        heard(&service, &hers, "hers", "“after the borrowed laptop”").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(!said(&service, &intruder, "intruder").iter().any(|b| b.contains("borrowed")),
            "the signed-out browser hears nothing");

        // Signing out everywhere ends hers too.
        let everywhere = app.request(Method::POST, "/api/v1/auth/logout-all", &own).send().await.unwrap();
        assert!(everywhere.status().is_success(), "{}", everywhere.status());
        let again = app.sign_in("ann@example.org").await;
        app.create_api_key(&again, "fresh start").await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert!(!said(&service, &hers, "hers").iter().any(|b| b.contains("fresh start")));

        // At most ten browsers per account, the newest always among them.
        let browsers: Vec<Browser> = (0..11).map(|n| Browser::new(&service, &format!("b{n}"))).collect();
        for browser in &browsers {
            assert_eq!(subscribe(&app, &again, browser.subscription()).await.status(), 204);
        }
        app.create_api_key(&again, "eleven").await;
        let reached = || (0..11).filter(|n| !service.deliveries(&format!("b{n}")).is_empty()).count();
        crate::crash::until("ten browsers hear it", async || (reached() >= 10).then_some(())).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        assert_eq!(reached(), 10, "and not the eleventh");
        assert!(!service.deliveries("b10").is_empty(), "the newest among them");
        app.stop().await;
    }

    async fn subscriptions_are_checked_through_both_doors(backend: Backend) {
        let service = PushService::start().await;
        let app = app_pushing_locally(backend).await;
        let ann = app.register("ann@example.org").await;
        let browser = Browser::new(&service, "ann");

        // Nobody signed in.
        let stranger = subscribe(&app, &Session::default(), browser.subscription()).await;
        assert_eq!(stranger.status(), 401);
        assert_eq!(error_code(stranger).await, "unauthenticated");
        let stranger = subscribe_page(&app, &Session::default(), browser.subscription()).await;
        assert_eq!(page_error(stranger).await, (401, "unauthenticated".into()));
        // An API key cannot choose where the member's notices go.
        let key = app.create_api_key(&ann, "bot").await;
        let by_key = app.client.post(app.url("/api/v1/user/push-subscriptions"))
            .bearer_auth(&key.key).json(&browser.subscription()).send().await.unwrap();
        assert_eq!(error_code(by_key).await, "session_required");

        let good = browser.subscription();
        let mut off_curve = good.clone();
        let mut point = base64_decode(good["keys"]["p256dh"].as_str().unwrap());
        point[64] ^= 1;
        off_curve["keys"]["p256dh"] = json!(base64_encode(&point));
        let mut short_auth = good.clone();
        short_auth["keys"]["auth"] = json!("AAAA");
        let mut no_url = good.clone();
        no_url["endpoint"] = json!("push-me-please");
        let mut credentials = good.clone();
        credentials["endpoint"] = json!(format!("http://user:pw@{}/push/ann", &service.origin[7..]));
        for (bad, code) in [
            (off_curve, "push_subscription_invalid"),
            (short_auth, "push_subscription_invalid"),
            (no_url, "push_subscription_invalid"),
            (credentials, "push_subscription_invalid"),
            (json!({ "endpoint": "https://fcm.googleapis.com/x" }), "invalid_request"),
        ] {
            let response = subscribe(&app, &ann, bad.clone()).await;
            assert_eq!(response.status(), if code == "invalid_request" { 400 } else { 422 }, "{bad}");
            assert_eq!(error_code(response).await, code, "{bad}");
            if code != "invalid_request" {
                assert_eq!(page_error(subscribe_page(&app, &ann, bad.clone()).await).await, (422, code.to_owned()));
            }
        }
        // Only the push services the server is configured for: this one
        // sends to the browsers' own, never to an address it was handed.
        let default = crate::helpers::spawn_app(backend).await;
        let bob = default.register("bob@example.org").await;
        for endpoint in [
            "http://127.0.0.1:9/push/x",
            "https://169.254.169.254/latest",
            "https://fcm.googleapis.com.evil.example/x",
            "https://fcm.googleapis.com:81/x",
            "https://[::1]/x",
        ] {
            let mut elsewhere = good.clone();
            elsewhere["endpoint"] = json!(endpoint);
            let refused = subscribe(&default, &bob, elsewhere.clone()).await;
            assert_eq!(refused.status(), 422);
            assert_eq!(error_code(refused).await, "push_service_not_allowed", "{endpoint}");
            assert_eq!(page_error(subscribe_page(&default, &bob, elsewhere).await).await, (422, "push_service_not_allowed".into()));
        }
        let mut chrome = good.clone();
        chrome["endpoint"] = json!("https://fcm.googleapis.com/fcm/send/abc");
        assert_eq!(subscribe(&default, &bob, chrome).await.status(), 204);
        default.stop().await;

        // Unsubscribing through the page's door; nothing arrives after.
        assert_eq!(subscribe(&app, &ann, good).await.status(), 204);
        let stranger = app.request(Method::POST, "/api/notifications/push_unsubscribe", &Session::default())
            .form(&[("endpoint", browser.endpoint.as_str())]).send().await.unwrap();
        assert_eq!(page_error(stranger).await, (401, "unauthenticated".into()));
        let done = app.request(Method::POST, "/api/notifications/push_unsubscribe", &ann)
            .form(&[("endpoint", browser.endpoint.as_str())]).send().await.unwrap();
        assert_eq!(done.status(), 200);
        app.create_api_key(&ann, "after").await;
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(service.deliveries("ann").is_empty());
        app.stop().await;
    }

    async fn the_notification_functions_refuse_strangers_and_malformed_input(backend: Backend) {
        let app = crate::helpers::spawn_app(backend).await;
        let nobody = Session::default();
        for (path, form) in [
            ("/api/notifications/read", vec![("up_to", "1")]),
            ("/api/notifications/preferences", vec![]),
            ("/api/notifications/set_preferences", vec![("muted[0]", "security")]),
        ] {
            let refused = app.request(Method::POST, path, &nobody).form(&form).send().await.unwrap();
            assert_eq!(page_error(refused).await, (401, "unauthenticated".into()), "{path}");
        }
        // Asked on every page: nobody signed in is no centre, not an error.
        for path in ["/api/notifications/centre", "/api/notifications/unread"] {
            let none = app.request(Method::POST, path, &nobody).send().await.unwrap();
            assert_eq!(none.status(), 200, "{path}");
            assert_eq!(none.json::<serde_json::Value>().await.unwrap(), serde_json::Value::Null);
        }
        let stranger = app.client.get(app.url("/api/v1/user/notifications")).send().await.unwrap();
        assert_eq!(error_code(stranger).await, "unauthenticated");

        let ann = app.register("ann@example.org").await;
        for (path, form) in [
            ("/api/notifications/read", vec![("up_to", "soon")]),
            ("/api/notifications/read", vec![]),
            ("/api/notifications/set_preferences", vec![("muted[0]", "gossip")]),
        ] {
            let refused = app.request(Method::POST, path, &ann).form(&form).send().await.unwrap();
            assert_eq!(refused.status(), 400, "{path} {form:?}");
        }
        let malformed = app.request(Method::POST, "/api/v1/user/notifications/read", &ann)
            .json(&json!({ "up_to": "soon" })).send().await.unwrap();
        assert_eq!(error_code(malformed).await, "invalid_request");
        app.stop().await;
    }
}

/// The bodies of the notices `browser` received at `name`.
fn said(service: &PushService, browser: &Browser, name: &str) -> Vec<String> {
    service
        .deliveries(name)
        .iter()
        .map(|delivery| {
            browser.read(&delivery.body)["body"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Waits until `browser` received a notice whose body contains `needle`
/// (one sent just before may still arrive after: sending is in the
/// background).
async fn heard(service: &PushService, browser: &Browser, name: &str, needle: &str) {
    for _ in 0..200 {
        if said(service, browser, name)
            .iter()
            .any(|body| body.contains(needle))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "{name} never heard {needle}: {:?}",
        said(service, browser, name)
    );
}

/// Waits until the push service was sent the notice whose body contains
/// `needle` `count` times (taken or not), and returns those messages.
async fn tries(
    service: &PushService,
    browser: &Browser,
    name: &str,
    needle: &str,
    count: usize,
) -> Vec<crate::push_service::Delivery> {
    for _ in 0..300 {
        let tries: Vec<_> = service
            .deliveries(name)
            .into_iter()
            .filter(|delivery| {
                browser.read(&delivery.body)["body"]
                    .as_str()
                    .is_some_and(|body| body.contains(needle))
            })
            .collect();
        if tries.len() >= count {
            assert_eq!(tries.len(), count, "{name}: {needle} sent too often");
            return tries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{name} was not sent {needle} {count} times within 15 s");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
