//! `GET /metrics`: served only with its own bearer token, and counting what
//! an operator watches — requests per route, AI calls with their tokens and
//! cost, ledger postings, rounds, breaker states.

use meritree_core::points::PointsReason;
use meritree_platform::points::PointsPosting;
use meritree_store::Backend;
use server::configuration::Secret;

use crate::ai::{complete, hello, member_key, provider, start_upstream, upstreams_only};
use crate::helpers::{spawn_app_with, TestApp};

const TOKEN: &str = "scrape-token-for-tests";

async fn scrape(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    let request = app.client.get(app.url("/metrics"));
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.unwrap()
}

/// The value of the series written exactly as `series` (name and labels).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[tokio::test]
async fn metrics_need_their_token_and_count_what_operators_watch() {
    let (url, _calls) = start_upstream(None, "Hello there").await;
    let app = spawn_app_with(Backend::Sqlite, |s| {
        upstreams_only(s, vec![provider("fake", &url)]);
        s.metrics.token = Secret::from(TOKEN);
    })
    .await;

    // Nobody else reads them: not without the token, not with another.
    assert_eq!(scrape(&app, None).await.status(), 401);
    assert_eq!(
        scrape(&app, Some("scrape-token-for-test")).await.status(),
        401
    );
    let (member, key) = member_key(&app, "ada@example.org").await;
    assert_eq!(
        scrape(&app, Some(&key)).await.status(),
        401,
        "an API key is not the token"
    );

    assert_eq!(app.get("/api/v1/rounds").await.status(), 200);
    assert_eq!(app.get("/api/v1/rounds/999999").await.status(), 404);
    assert_eq!(
        complete(&app, &key, hello("fake/gpt-test")).await.status(),
        200
    );
    app.platform
        .points()
        .post(PointsPosting {
            account_id: &member,
            amount: 5,
            reason: PointsReason::TaskReward,
            reference: None,
            idempotency_key: "task:1",
        })
        .await
        .unwrap();

    let response = scrape(&app, Some(TOKEN)).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = response.text().await.unwrap();
    let series = |s: &str| value(&text, s).unwrap_or_else(|| panic!("{s} in\n{text}"));
    // One series per route pattern, not per URL.
    assert_eq!(
        series(r#"meritree_http_requests_total{method="GET",route="/api/v1/rounds",status="200"}"#),
        1.0
    );
    assert_eq!(
        series(
            r#"meritree_http_requests_total{method="GET",route="/api/v1/rounds/{n}",status="404"}"#
        ),
        1.0
    );
    assert_eq!(
        series(r#"meritree_http_requests_total{method="GET",route="/metrics",status="401"}"#),
        3.0
    );
    assert!(
        series(
            r#"meritree_http_request_duration_seconds_count{method="POST",route="/v1/chat/completions"}"#
        ) >= 1.0
    );
    // The fake upstream reports 12 tokens in and 4 out, at $1 and $2 per million.
    assert_eq!(
        series(r#"meritree_ai_requests_total{provider="fake",model="gpt-test",outcome="ok"}"#),
        1.0
    );
    assert_eq!(
        series(r#"meritree_ai_tokens_total{provider="fake",direction="input"}"#),
        12.0
    );
    assert_eq!(
        series(r#"meritree_ai_tokens_total{provider="fake",direction="output"}"#),
        4.0
    );
    assert_eq!(
        series(r#"meritree_ai_cost_nanousd_total{provider="fake"}"#),
        20_000.0
    );
    assert_eq!(
        series(r#"meritree_ai_provider_breaker_state{provider="fake"}"#),
        0.0
    );
    assert_eq!(
        series(r#"meritree_ai_time_to_answer_seconds_count{provider="fake"}"#),
        1.0
    );
    assert_eq!(
        series(r#"meritree_ledger_postings_total{reason="task_reward"}"#),
        1.0
    );
    assert_eq!(series(r#"meritree_rounds{state="open"}"#), 1.0);
    assert_eq!(series("meritree_websocket_connections"), 0.0);
    app.stop().await;

    // With no token configured there is no endpoint at all.
    let unconfigured = spawn_app_with(Backend::Sqlite, |_| {}).await;
    assert_eq!(scrape(&unconfigured, Some(TOKEN)).await.status(), 404);
    unconfigured.stop().await;
}
