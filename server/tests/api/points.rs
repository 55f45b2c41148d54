use meritree_core::accounts::AccountView;
use meritree_core::points::{PointsEntryView, PointsOverview, PointsReason};
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{admin_session, error_code, spawn_app, Session, TestApp};

async fn account_id(app: &TestApp, session: &Session) -> String {
    let me: AccountView = app
        .request(Method::GET, "/api/v1/user/me", session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me.id.to_string()
}

async fn post_as(app: &TestApp, admin: &Session, body: serde_json::Value) -> reqwest::Response {
    app.request(Method::POST, "/api/v1/admin/points", admin)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn my_points(app: &TestApp, session: &Session, query: &str) -> PointsOverview {
    let response = app
        .request(Method::GET, &format!("/api/v1/user/points{query}"), session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

test_both_backends! {
    async fn points_admins_post_and_members_read_their_own(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let ann_id = account_id(&app, &ann).await;
        let admin = admin_session(&app).await;

        let fresh = my_points(&app, &ann, "").await;
        assert_eq!((fresh.balance, fresh.history.entries.len(), fresh.history.next_before), (0, 0, None));

        let body = json!({
            "account_id": ann_id, "amount": 120, "reason": "content_reward",
            "reference": "round:3", "idempotency_key": "round:3:ann"
        });
        let first = post_as(&app, &admin, body.clone()).await;
        assert_eq!(first.status(), 201);
        let first: PointsEntryView = first.json().await.unwrap();
        assert_eq!((first.amount, first.balance_after), (120, 120));
        assert_eq!(first.reason, PointsReason::ContentReward);

        let replay = post_as(&app, &admin, body).await;
        assert_eq!(replay.status(), 200, "a replay is not a new entry");
        assert_eq!(replay.json::<PointsEntryView>().await.unwrap(), first);

        let conflict = post_as(&app, &admin, json!({
            "account_id": ann_id, "amount": 121, "reason": "content_reward",
            "reference": "round:3", "idempotency_key": "round:3:ann"
        })).await;
        assert_eq!(conflict.status(), 409);
        assert_eq!(error_code(conflict).await, "idempotency_conflict");

        let overdraw = post_as(&app, &admin, json!({
            "account_id": ann_id, "amount": -500, "reason": "admin_adjustment", "idempotency_key": "fix:1"
        })).await;
        assert_eq!(overdraw.status(), 409);
        assert_eq!(error_code(overdraw).await, "insufficient_points");

        let debit = post_as(&app, &admin, json!({
            "account_id": ann_id, "amount": -20, "reason": "admin_adjustment", "idempotency_key": "fix:1"
        })).await;
        assert_eq!(debit.status(), 201);

        let overview = my_points(&app, &ann, "").await;
        assert_eq!(overview.balance, 100);
        assert_eq!(
            overview.history.entries.iter().map(|e| e.amount).collect::<Vec<_>>(),
            [-20, 120]
        );
        let page = my_points(&app, &ann, "?limit=1").await;
        assert_eq!(page.history.entries.len(), 1);
        assert_eq!(page.history.entries[0].amount, -20);
        let next = page.history.next_before.expect("another page");
        let older = my_points(&app, &ann, &format!("?limit=1&before={next}")).await;
        assert_eq!(older.history.entries, vec![first]);
        assert_eq!(older.history.next_before, None);

        // Nobody else sees Ann's points.
        let bob = app.register("bob@example.org").await;
        assert_eq!(my_points(&app, &bob, "").await.balance, 0);
        app.stop().await;
    }

    async fn points_posting_is_for_admins_only(backend: Backend) {
        let app = spawn_app(backend).await;
        let mut ann = app.register("ann@example.org").await;
        let ann_id = account_id(&app, &ann).await;
        let body = json!({
            "account_id": ann_id, "amount": 1000, "reason": "admin_adjustment", "idempotency_key": "gift"
        });
        let response = app.post_json("/api/v1/admin/points", &mut ann, body.clone()).await;
        assert_eq!(response.status(), 403);
        assert_eq!(error_code(response).await, "forbidden");
        let anonymous = app.client.post(app.url("/api/v1/admin/points")).json(&body).send().await.unwrap();
        assert_eq!(anonymous.status(), 401);
        assert_eq!(my_points(&app, &ann, "").await.balance, 0);

        let unauthenticated = app.get("/api/v1/user/points").await;
        assert_eq!(unauthenticated.status(), 401);
        app.stop().await;
    }

    async fn points_bad_postings_get_clear_errors(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let ann_id = account_id(&app, &ann).await;
        let admin = admin_session(&app).await;
        let cases = [
            (json!({ "account_id": ann_id, "amount": 0, "reason": "referral", "idempotency_key": "k" }),
                422, "invalid_amount"),
            (json!({ "account_id": ann_id, "amount": -5, "reason": "task_reward", "idempotency_key": "k" }),
                422, "invalid_amount"),
            (json!({ "account_id": ann_id, "amount": 9_007_199_254_740_992_i64, "reason": "referral",
                     "idempotency_key": "k" }), 422, "invalid_amount"),
            (json!({ "account_id": ann_id, "amount": 5, "reason": "bonus", "idempotency_key": "k" }),
                400, "invalid_request"),
            (json!({ "account_id": ann_id, "amount": 1.5, "reason": "referral", "idempotency_key": "k" }),
                400, "invalid_request"),
            (json!({ "account_id": ann_id, "amount": 5, "reason": "referral", "idempotency_key": "a key" }),
                400, "invalid_request"),
            (json!({ "account_id": ann_id, "amount": 5, "reason": "referral", "idempotency_key": "k",
                     "reference": "" }), 400, "invalid_request"),
            (json!({ "account_id": "no-such-account", "amount": 5, "reason": "referral",
                     "idempotency_key": "k" }), 404, "not_found"),
        ];
        for (body, status, code) in cases {
            let response = post_as(&app, &admin, body.clone()).await;
            assert_eq!(response.status(), status, "{body}");
            assert_eq!(error_code(response).await, code, "{body}");
        }
        let bad_query = app.request(Method::GET, "/api/v1/user/points?before=soon", &ann)
            .send().await.unwrap();
        assert_eq!(bad_query.status(), 400);
        assert_eq!(error_code(bad_query).await, "invalid_request");
        assert_eq!(my_points(&app, &ann, "").await.balance, 0, "nothing was written");
        app.stop().await;
    }
}
