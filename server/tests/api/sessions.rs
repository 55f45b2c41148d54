use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{error_code, spawn_app, Session, TestApp, PASSWORD};

async fn sign_in_from(app: &TestApp, email: &str, user_agent: &str) -> Session {
    let mut session = Session::default();
    let response = app
        .request(Method::POST, "/api/v1/auth/login", &session)
        .header("user-agent", user_agent)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    session.absorb(&response);
    session
}

async fn sessions(app: &TestApp, session: &Session) -> Vec<Value> {
    let response = app
        .request(Method::GET, "/api/v1/user/sessions", session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

test_both_backends! {
    async fn an_account_lists_its_devices_and_signs_one_out(backend: Backend) {
        let app = spawn_app(backend).await;
        app.register("ann@example.org").await;
        let laptop = sign_in_from(&app, "ann@example.org", "Laptop browser").await;
        let phone = sign_in_from(&app, "ann@example.org", "Phone browser").await;

        let listed = sessions(&app, &laptop).await;
        assert_eq!(listed.len(), 3, "sign-up, laptop and phone: {listed:?}");
        let current: Vec<_> = listed.iter().filter(|s| s["current"] == true).collect();
        assert_eq!(current.len(), 1);
        assert_eq!(current[0]["user_agent"], "Laptop browser");
        let phone_id = listed
            .iter()
            .find(|s| s["user_agent"] == "Phone browser")
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned();

        // Another account cannot end it, and cannot tell it exists.
        let bob = app.register("bob@example.org").await;
        let path = format!("/api/v1/user/sessions/{phone_id}");
        let foreign = app.request(Method::DELETE, &path, &bob).send().await.unwrap();
        assert_eq!(foreign.status(), 404);
        assert_eq!(error_code(foreign).await, "not_found");

        let ended = app.request(Method::DELETE, &path, &laptop).send().await.unwrap();
        assert_eq!(ended.status(), 204);
        assert_eq!(sessions(&app, &laptop).await.len(), 2);
        let again = app.request(Method::DELETE, &path, &laptop).send().await.unwrap();
        assert_eq!(again.status(), 404);

        // The phone's session cannot be refreshed any more.
        let refresh = app
            .request(Method::POST, "/api/v1/auth/refresh", &phone)
            .send()
            .await
            .unwrap();
        assert_eq!(refresh.status(), 401);
        app.stop().await;
    }
}
