use std::time::Duration;

use meritree_platform::accounts::totp::TotpSetup;
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{error_code, spawn_app_with, totp_code, unix_now, Session, PASSWORD};

const REDIS_URL_VAR: &str = "MERITREE_TEST_REDIS_URL";

fn redis_url() -> String {
    std::env::var(REDIS_URL_VAR).unwrap_or_else(|_| {
        panic!("{REDIS_URL_VAR} is not set: run the tests through scripts/test")
    })
}

async fn register(app: &crate::helpers::TestApp, n: usize) -> reqwest::Response {
    app.post_json(
        "/api/v1/auth/register",
        &mut Session::default(),
        json!({ "email": format!("user{n}@example.org"), "password": PASSWORD }),
    )
    .await
}

test_both_backends! {
    async fn registrations_per_ip_are_limited_with_retry_after(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.rate_limits.register_per_ip_per_hour = 3).await;
        for n in 0..3 {
            assert_eq!(register(&app, n).await.status(), 201);
        }
        let refused = register(&app, 3).await;
        assert_eq!(refused.status(), 429);
        let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=1200).contains(&retry_after), "{retry_after}");
        assert_eq!(error_code(refused).await, "rate_limited");
        app.stop().await;
    }

    async fn failed_password_attempts_are_limited_per_email_across_ips(backend: Backend) {
        let app = spawn_app_with(backend, |s| {
            s.rate_limits.sign_in_per_email_per_hour = 3;
            // Each attempt below claims another client address through a trusted proxy.
            s.server.trusted_proxy_hops = 1;
        })
        .await;
        app.register("ann@example.org").await;
        let attempt = |n: usize, email: &'static str, password: &'static str| {
            app.request(Method::POST, "/api/v1/auth/login", &Session::default())
                .header("x-forwarded-for", format!("198.51.100.{n}"))
                .json(&json!({ "email": email, "password": password }))
                .send()
        };
        // Signing in is not a failure: it never uses up the allowance.
        for n in 0..5 {
            assert_eq!(attempt(n, "ann@example.org", PASSWORD).await.unwrap().status(), 200);
        }
        for n in 10..13 {
            let wrong = attempt(n, "Ann@Example.org", "not the password").await.unwrap();
            assert_eq!(error_code(wrong).await, "invalid_credentials");
        }
        // The count is the account's, whatever the address.
        let refused = attempt(20, "ann@example.org", "not the password").await.unwrap();
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().contains_key("retry-after"));
        assert_eq!(error_code(refused).await, "rate_limited");
        // The owner is not locked out by someone else's guesses...
        let owner = attempt(21, "ann@example.org", PASSWORD).await.unwrap();
        assert_eq!(owner.status(), 200, "the right password still signs in");
        // ...and signing in does not reopen the allowance to guessers.
        let wrong = attempt(22, "ann@example.org", "not the password").await.unwrap();
        assert_eq!(wrong.status(), 429);
        app.register("bob@example.org").await;
        let other = attempt(23, "bob@example.org", "not the password").await.unwrap();
        assert_eq!(error_code(other).await, "invalid_credentials",
            "another email has its own allowance");
        app.stop().await;
    }

    async fn over_the_limit_a_two_factor_account_needs_password_and_code(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.rate_limits.sign_in_per_email_per_hour = 3).await;
        let ann = app.register("ann@example.org").await;
        let setup: TotpSetup = app.request(Method::POST, "/api/v1/user/totp", &ann)
            .send().await.unwrap().json().await.unwrap();
        let confirmed = app.request(Method::POST, "/api/v1/user/totp/confirm", &ann)
            .json(&json!({ "code": totp_code(&setup.secret, unix_now() - 30) }))
            .send().await.unwrap();
        assert_eq!(confirmed.status(), 200);
        let attempt = |password: &'static str, code: Option<&'static str>| {
            app.request(Method::POST, "/api/v1/auth/login", &Session::default())
                .json(&json!({
                    "email": "ann@example.org", "password": password, "totp_code": code,
                }))
                .send()
        };

        // Asking for the code is the form's first step, not a failure.
        for _ in 0..5 {
            let step = attempt(PASSWORD, None).await.unwrap();
            assert_eq!(error_code(step).await, "totp_required");
        }
        // A wrong code after the right password is a failure like a wrong password.
        for (password, code, error) in [
            (PASSWORD, Some("12345x"), "invalid_totp"),
            ("not the password", None, "invalid_credentials"),
            ("not the password", Some("12345x"), "invalid_credentials"),
        ] {
            assert_eq!(error_code(attempt(password, code).await.unwrap()).await, error);
        }
        // Over the limit, nothing short of password and code answers
        // differently from a wrong password.
        for (password, code) in [
            ("not the password", None),
            (PASSWORD, None),
            (PASSWORD, Some("12345x")),
        ] {
            let refused = attempt(password, code).await.unwrap();
            assert_eq!(refused.status(), 429, "{password} {code:?}");
            assert_eq!(error_code(refused).await, "rate_limited");
        }
        let code = totp_code(&setup.secret, unix_now());
        let owner = app.request(Method::POST, "/api/v1/auth/login", &Session::default())
            .json(&json!({ "email": "ann@example.org", "password": PASSWORD, "totp_code": code }))
            .send().await.unwrap();
        assert_eq!(owner.status(), 200);
        app.stop().await;
    }

    async fn authenticated_requests_are_limited_per_account(backend: Backend) {
        let app = spawn_app_with(backend, |s| s.rate_limits.api_per_account_per_minute = 5).await;
        let ann = app.register("ann@example.org").await;
        let bob = app.register("bob@example.org").await;
        let me = |session: &Session| app.request(Method::GET, "/api/v1/user/me", session).send();
        for _ in 0..5 {
            assert_eq!(me(&ann).await.unwrap().status(), 200);
        }
        let refused = me(&ann).await.unwrap();
        assert_eq!(refused.status(), 429);
        assert_eq!(error_code(refused).await, "rate_limited");
        assert_eq!(me(&bob).await.unwrap().status(), 200, "another account has its own allowance");
        app.stop().await;
    }
}

/// Two instances sharing Redis share one count; the window refills.
#[tokio::test]
async fn instances_sharing_redis_share_limits() {
    let configure = |s: &mut server::configuration::Settings| {
        s.cache.redis_url = redis_url().into();
        // One a second, so the refill below takes a second, not minutes.
        s.rate_limits.nonce_per_ip_per_minute = 60;
    };
    let first = spawn_app_with(Backend::Sqlite, configure).await;
    let second = spawn_app_with(Backend::Sqlite, configure).await;
    let nonce = |app: &crate::helpers::TestApp| {
        app.request(Method::POST, "/api/v1/auth/siwe/nonce", &Session::default())
            .send()
    };
    // Other tests may share this Redis and loopback IP: use up whatever is left.
    let mut allowed = 0;
    for _ in 0..70 {
        if nonce(&first).await.unwrap().status() == 200 {
            allowed += 1;
        }
    }
    assert!((1..=62).contains(&allowed), "{allowed}");
    let refused = nonce(&second).await.unwrap();
    assert_eq!(
        refused.status(),
        429,
        "the second instance sees the first one's requests"
    );
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait <= 2, "one request refills in a second: {wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(
        nonce(&second).await.unwrap().status(),
        200,
        "after Retry-After it works again"
    );
    first.stop().await;
    second.stop().await;
}
