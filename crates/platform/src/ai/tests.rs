//! Usage recording, summaries and budgets on both database backends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use meritree_ai::config::{AiSettings, Capability, ModelSettings, ProviderKind, ProviderSettings};
use meritree_ai::{ChatRequest, Gateway, Message, ProviderError, Role, StreamEvent, Usage};
use meritree_store::accounts::{self, NewAccount};
use meritree_store::ai_usage::{self as store, NewUsage, UsageStatus};
use meritree_store::api_keys::{self, NewApiKey};
use meritree_store::testing::TestDatabase;
use meritree_store::{test_both_backends, Backend, Database, PoolOptions};
use time::{Date, Month, Time};

use super::*;
use crate::{Platform, PlatformOptions};

async fn platform(test_db: &TestDatabase) -> Platform {
    platform_with(test_db, PlatformOptions::default()).await
}

async fn platform_with(test_db: &TestDatabase, options: PlatformOptions) -> Platform {
    let db = Database::connect(&test_db.target, PoolOptions::default())
        .await
        .unwrap();
    db.migrate().await.unwrap();
    Platform::start(db, options).await.unwrap()
}

/// A platform whose one AI model is `fake/gpt-test` at `url`, at $1 in and
/// $2 out per million tokens: 1,000 n$ a prompt token, 2,000 an output one.
async fn platform_with_upstream(test_db: &TestDatabase, url: &str) -> Platform {
    let settings = AiSettings {
        providers: vec![ProviderSettings {
            name: "fake".into(),
            kind: ProviderKind::Openai,
            base_url: url.into(),
            api_key_env: String::new(),
            first_byte_timeout_secs: 5,
            total_timeout_secs: 10,
            models: vec![ModelSettings {
                name: "gpt-test".into(),
                input_price: 1_000_000,
                output_price: 2_000_000,
                context: 8192,
                capabilities: vec![Capability::Chat],
            }],
        }],
        ..AiSettings::default()
    };
    let gateway = Gateway::build(&settings, |_| None, None).unwrap();
    let options = PlatformOptions {
        gateway: Some(Arc::new(gateway)),
        ..PlatformOptions::default()
    };
    platform_with(test_db, options).await
}

/// How a scripted upstream's stream ends, after its text.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// The finish reason, this usage, then `[DONE]`.
    Complete(Usage),
    /// The connection closes: no usage, no `[DONE]`.
    Cut,
    /// Nothing more, the connection open until the client leaves.
    Stall,
}

/// An OpenAI-compatible upstream on port 0 answering every chat request with
/// one stream chunk per piece, then `ending`. Plain HTTP/1.1 on threads:
/// this crate has no HTTP server, and the body has to stop exactly where
/// the script says.
fn scripted_upstream(pieces: &'static [&'static str], ending: Ending) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for socket in listener.incoming().flatten() {
            std::thread::spawn(move || answer(socket, pieces, ending));
        }
    });
    url
}

fn answer(mut socket: TcpStream, pieces: &[&str], ending: Ending) -> std::io::Result<()> {
    // The whole request is read first: closing a socket with unread input
    // resets the connection, which the client would see as a transport error.
    let mut request = BufReader::new(socket.try_clone()?);
    let mut length = 0;
    loop {
        let mut line = String::new();
        request.read_line(&mut line)?;
        let Some((name, value)) = line.trim_end().split_once(':') else {
            break;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    request.read_exact(&mut vec![0; length])?;

    // Neither a length nor chunks: the body ends when the connection closes.
    let mut response = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
    );
    let mut event = |data: serde_json::Value| response.push_str(&format!("data: {data}\n\n"));
    for piece in pieces {
        event(serde_json::json!({"choices": [{"index": 0, "delta": {"content": piece}}]}));
    }
    if let Ending::Complete(usage) = ending {
        event(serde_json::json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}));
        event(serde_json::json!({"choices": [], "usage": {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
        }}));
        response.push_str("data: [DONE]\n\n");
    }
    socket.write_all(response.as_bytes())?;
    if let Ending::Stall = ending {
        // Returns once the client has closed the connection.
        let _ = request.read(&mut [0; 1]);
    }
    Ok(())
}

/// 80 characters of prompt: 20 tokens estimated.
fn story_request() -> ChatRequest {
    ChatRequest {
        model: "fake/gpt-test".into(),
        messages: vec![
            Message::new(Role::System, "Answer in one long paragraph."),
            Message::new(
                Role::User,
                "Tell me the story of the oldest tree in the forest.",
            ),
        ],
        max_tokens: None,
        temperature: None,
        stream: true,
        ..Default::default()
    }
}

/// 25 characters of answer: 7 tokens estimated.
const STORY: [&str; 6] = ["Once ", "upon ", "a ", "time, ", "a ", "tree "];

fn ann_caller() -> AiCaller {
    AiCaller {
        account_id: "ann".into(),
        api_key_id: None,
    }
}

/// The usage row of `request_id`: a stream's is written by a task spawned
/// when it ends, so it is waited for.
async fn recorded(platform: &Platform, request_id: &str) -> store::UsageRecord {
    for _ in 0..500 {
        if let Some(row) = store::find_by_request_id(platform.db(), request_id)
            .await
            .unwrap()
        {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no usage row for request {request_id}");
}

/// Tokens in, tokens out, cost and status, as recorded.
fn charged(row: &store::UsageRecord) -> (i64, i64, i64, &str) {
    (
        row.input_tokens,
        row.output_tokens,
        row.cost_nanos,
        row.status.as_str(),
    )
}

async fn account(platform: &Platform, id: &str) {
    accounts::insert(
        platform.db(),
        NewAccount {
            id,
            email: Some(&format!("{id}@example.org")),
            email_skeleton: None,
            password_hash: None,
            wallet_address: None,
            telegram_id: None,
            role: "member",
            now: 1,
        },
    )
    .await
    .unwrap();
}

async fn api_key(platform: &Platform, id: &str, account_id: &str) {
    api_keys::insert(
        platform.db(),
        NewApiKey {
            id,
            account_id,
            name: id,
            prefix: "mt_test",
            key_hash: &format!("hash-{id}"),
            scopes: "ai read",
            expires_at: None,
            now: 1,
        },
    )
    .await
    .unwrap();
}

fn record(request_id: &str, account_id: &str, key: Option<&str>, cost_nanos: u64) -> UsageRecord {
    UsageRecord {
        request_id: request_id.to_owned(),
        account_id: account_id.to_owned(),
        api_key_id: key.map(str::to_owned),
        provider: "openai".to_owned(),
        model: "gpt-test".to_owned(),
        public_model: "quality".to_owned(),
        input_tokens: 12,
        output_tokens: 4,
        cost_nanos,
        cached: false,
        ok: true,
        served_by: None,
    }
}

/// Records a request's usage at a chosen time, as the gateway would have
/// then.
async fn spend_at(platform: &Platform, account_id: &str, key: Option<&str>, cost: u64, at: i64) {
    let request_id = uuid::Uuid::new_v4().to_string();
    let usage = record(&request_id, account_id, key, cost);
    assert!(platform.ai().record_usage_at(usage, at).await.unwrap());
}

/// Writes a usage row at a chosen time as another instance would: straight
/// to the database, unseen by this instance's budget cache.
async fn spend_elsewhere_at(platform: &Platform, account_id: &str, cost: i64, at: i64) {
    let key = None;
    let request_id = uuid::Uuid::new_v4().to_string();
    let written = store::insert(
        platform.db(),
        NewUsage {
            id: &request_id,
            request_id: &request_id,
            account_id,
            api_key_id: key,
            provider: "openai",
            model: "gpt-test",
            public_model: "quality",
            input_tokens: 1,
            output_tokens: 1,
            cost_nanos: cost,
            cached: false,
            status: UsageStatus::Ok,
            served_by: None,
            now: at,
        },
    )
    .await
    .unwrap();
    assert!(written);
}

/// Unix seconds of a UTC time.
fn utc(year: i32, month: u8, day: u8, hms: (u8, u8, u8)) -> i64 {
    let date = Date::from_calendar_date(year, Month::try_from(month).unwrap(), day).unwrap();
    date.with_time(Time::from_hms(hms.0, hms.1, hms.2).unwrap())
        .assume_utc()
        .unix_timestamp()
}

async fn refusal(
    platform: &Platform,
    account: &str,
    key: Option<&str>,
    now: i64,
) -> BudgetExceeded {
    match platform.ai().check_budget(&account.into(), key, now).await {
        Err(BudgetCheckError::Exceeded(exceeded)) => exceeded,
        other => panic!("expected a spent budget, got {other:?}"),
    }
}

async fn admitted(platform: &Platform, account: &str, key: Option<&str>, now: i64) -> bool {
    match platform.ai().check_budget(&account.into(), key, now).await {
        Ok(()) => true,
        Err(BudgetCheckError::Exceeded(_)) => false,
        Err(other) => panic!("{other}"),
    }
}

fn ann() -> BudgetScope {
    BudgetScope::Account("ann".into())
}

test_both_backends! {
    async fn ai_usage_is_recorded_once_per_request(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let platform = platform(&test_db).await;
        account(&platform, "ann").await;
        api_key(&platform, "k1", "ann").await;

        platform.ai().record_usage(record("r1", "ann", Some("k1"), 700)).await.unwrap();
        // A retry of the same request records nothing more.
        platform.ai().record_usage(record("r1", "ann", Some("k1"), 700)).await.unwrap();
        assert!(!platform.ai().record_usage_at(record("r1", "ann", None, 5), 1).await.unwrap());
        // A cache hit costs nothing, whatever the caller computed.
        let hit = UsageRecord { cached: true, ..record("r2", "ann", None, 700) };
        platform.ai().record_usage(hit).await.unwrap();
        let failed = UsageRecord { ok: false, ..record("r3", "ann", Some("k1"), 50) };
        platform.ai().record_usage(failed).await.unwrap();

        let row = store::find_by_request_id(platform.db(), "r2").await.unwrap().unwrap();
        assert_eq!((row.cost_nanos, row.cached, row.status.as_str()), (0, true, "ok"));
        let row = store::find_by_request_id(platform.db(), "r3").await.unwrap().unwrap();
        assert_eq!((row.api_key_id.as_deref(), row.status.as_str()), (Some("k1"), "error"));

        let now = crate::clock::unix_secs();
        let key = BudgetScope::ApiKey("k1".into());
        assert_eq!(platform.ai().spent(&ann(), BudgetPeriod::Day, now).await.unwrap(), 750);
        assert_eq!(platform.ai().spent(&key, BudgetPeriod::Month, now).await.unwrap(), 750);

        let summary = platform.ai().usage_summary(&"ann".into(), 0).await.unwrap();
        assert_eq!(summary.since, 0);
        assert_eq!(summary.models.len(), 1);
        assert_eq!(summary.models[0].provider, "openai");
        assert_eq!(summary.total, UsageTotals {
            requests: 3,
            cached_requests: 1,
            failed_requests: 1,
            input_tokens: 36,
            output_tokens: 12,
            cost_nanos: 750,
        });
        assert_eq!(summary.models[0].totals, summary.total);
        let later = platform.ai().usage_summary(&"ann".into(), now + 10).await.unwrap();
        assert!(later.models.is_empty());
        assert_eq!(later.total, UsageTotals::default());

        // Unknown accounts are refused, not recorded.
        assert!(platform.ai().record_usage(record("r4", "nobody", None, 1)).await.is_err());
    }

    async fn ai_usage_summary_per_model_costliest_first(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let platform = platform(&test_db).await;
        account(&platform, "ann").await;
        for (i, (provider, model, cost)) in [
            ("openai", "gpt-test", 100),
            ("anthropic", "claude-test", 900),
            ("openai", "gpt-test", 200),
            ("local", "smollm2", 0),
        ]
        .into_iter()
        .enumerate()
        {
            let usage = UsageRecord {
                provider: provider.into(),
                model: model.into(),
                ..record(&format!("r{i}"), "ann", None, cost)
            };
            platform.ai().record_usage_at(usage, 1_000).await.unwrap();
        }
        let summary = platform.ai().usage_summary(&"ann".into(), 1_000).await.unwrap();
        let rows: Vec<_> = summary
            .models
            .iter()
            .map(|m| (m.provider.as_str(), m.totals.requests, m.totals.cost_nanos))
            .collect();
        assert_eq!(rows, [("anthropic", 1, 900), ("openai", 2, 300), ("local", 1, 0)]);
        assert_eq!((summary.total.requests, summary.total.cost_nanos), (4, 1_200));
        assert!(platform.ai().usage_summary(&"ann".into(), 1_001).await.unwrap().models.is_empty());
        // The JSON view flattens each model's totals.
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["models"][0]["cost_nanos"], 900);
        assert_eq!(json["total"]["requests"], 4);
    }

    async fn ai_budgets_are_set_replaced_listed_and_deleted(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let platform = platform(&test_db).await;
        assert!(platform.ai().budgets(&ann()).await.unwrap().is_empty());
        let set = platform.ai().set_budget(&ann(), BudgetPeriod::Month, 5_000).await.unwrap();
        assert_eq!((set.scope, set.period, set.limit_nanos), (ann(), BudgetPeriod::Month, 5_000));
        platform.ai().set_budget(&ann(), BudgetPeriod::Day, 300).await.unwrap();
        platform.ai().set_budget(&ann(), BudgetPeriod::Day, 400).await.unwrap();
        let key = BudgetScope::ApiKey("ann".into());
        platform.ai().set_budget(&key, BudgetPeriod::Day, 7).await.unwrap();
        // Out of i64's range: stored as the largest limit there is.
        let huge = platform.ai().set_budget(&key, BudgetPeriod::Month, u64::MAX).await.unwrap();
        assert_eq!(huge.limit_nanos, i64::MAX as u64);

        let listed: Vec<_> = platform
            .ai().budgets(&ann())
            .await
            .unwrap()
            .into_iter()
            .map(|b| (b.period, b.limit_nanos))
            .collect();
        assert_eq!(listed, [(BudgetPeriod::Day, 400), (BudgetPeriod::Month, 5_000)]);
        assert_eq!(platform.ai().budgets(&key).await.unwrap().len(), 2);

        assert!(platform.ai().delete_budget(&ann(), BudgetPeriod::Day).await.unwrap());
        assert!(!platform.ai().delete_budget(&ann(), BudgetPeriod::Day).await.unwrap());
        assert_eq!(platform.ai().budgets(&ann()).await.unwrap().len(), 1);
        assert_eq!(platform.ai().budgets(&key).await.unwrap().len(), 2);
    }

    async fn ai_budget_check_counts_only_the_current_day(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let platform = platform(&test_db).await;
        account(&platform, "ann").await;
        let midnight = utc(2025, 3, 15, (0, 0, 0));
        // No budget: always admitted, whatever was spent.
        spend_at(&platform, "ann", None, 1_000, midnight - 1).await;
        assert!(admitted(&platform, "ann", None, midnight).await);

        platform.ai().set_budget(&ann(), BudgetPeriod::Day, 500).await.unwrap();
        // The previous day's 1,000 does not count on this one...
        assert!(admitted(&platform, "ann", None, midnight).await);
        // ...but did on that day.
        let spent = refusal(&platform, "ann", None, midnight - 1).await;
        assert_eq!(spent, BudgetExceeded {
            scope: ann(),
            period: BudgetPeriod::Day,
            limit_nanos: 500,
            spent_nanos: 1_000,
            resets_at: midnight,
        });
        assert_eq!(
            spent.to_string(),
            "the daily AI budget of this account is spent (1000 of 500 nano-dollars); \
             it resets at 2025-03-15T00:00:00Z"
        );

        spend_at(&platform, "ann", None, 499, midnight).await;
        assert!(admitted(&platform, "ann", None, midnight + 10).await);
        // Reaching the limit exactly spends it.
        spend_at(&platform, "ann", None, 1, midnight + 10).await;
        let spent = refusal(&platform, "ann", None, midnight + 86_399).await;
        assert_eq!((spent.spent_nanos, spent.resets_at), (500, midnight + 86_400));
        // The next day starts afresh.
        assert!(admitted(&platform, "ann", None, midnight + 86_400).await);

        // A limit of 0 allows nothing.
        platform.ai().set_budget(&ann(), BudgetPeriod::Day, 0).await.unwrap();
        assert!(!admitted(&platform, "ann", None, midnight + 86_400).await);
        platform.ai().delete_budget(&ann(), BudgetPeriod::Day).await.unwrap();
        assert!(admitted(&platform, "ann", None, midnight + 10).await);
    }

    async fn ai_budget_check_months_roll_over_december_and_february(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let platform = platform(&test_db).await;
        account(&platform, "ann").await;
        platform.ai().set_budget(&ann(), BudgetPeriod::Month, 1_000).await.unwrap();

        // Time only moves forward, as in production: every check sees only
        // what was recorded before it.

        // Leap February 2024: January's spending does not count, the 29th
        // is in February, and March starts afresh.
        spend_at(&platform, "ann", None, 999, utc(2024, 1, 31, (23, 59, 59))).await;
        let leap_day = utc(2024, 2, 29, (12, 0, 0));
        assert!(admitted(&platform, "ann", None, utc(2024, 2, 1, (0, 0, 0))).await);
        assert!(admitted(&platform, "ann", None, leap_day).await);
        spend_at(&platform, "ann", None, 1_000, leap_day).await;
        let march = utc(2024, 3, 1, (0, 0, 0));
        let spent = refusal(&platform, "ann", None, march - 1).await;
        assert_eq!((spent.spent_nanos, spent.resets_at), (1_000, march));
        assert_eq!(spent.period, BudgetPeriod::Month);
        assert!(admitted(&platform, "ann", None, march).await);

        // November → December 2024.
        let december = utc(2024, 12, 1, (0, 0, 0));
        spend_at(&platform, "ann", None, 5_000, december - 1).await;
        assert_eq!(refusal(&platform, "ann", None, december - 1).await.resets_at, december);
        assert!(admitted(&platform, "ann", None, december).await);

        // December 2024 → January 2025.
        let new_year = utc(2025, 1, 1, (0, 0, 0));
        spend_at(&platform, "ann", None, 600, december).await;
        spend_at(&platform, "ann", None, 400, new_year - 1).await;
        let spent = refusal(&platform, "ann", None, new_year - 1).await;
        assert_eq!((spent.spent_nanos, spent.resets_at), (1_000, new_year));
        assert!(spent.to_string().contains("monthly"), "{spent}");
        assert!(admitted(&platform, "ann", None, new_year).await);
        spend_at(&platform, "ann", None, 1, new_year).await;
        assert_eq!(
            platform.ai().spent(&ann(), BudgetPeriod::Month, new_year).await.unwrap(),
            1
        );
    }

    async fn ai_budget_check_sees_other_instances_spending_within_a_second(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let platform = platform(&test_db).await;
        account(&platform, "ann").await;
        let now = crate::clock::unix_secs();
        platform.ai().set_budget(&ann(), BudgetPeriod::Month, 1_000).await.unwrap();
        assert!(admitted(&platform, "ann", None, now).await);
        // Spent on another instance: this one sees it once its figure is
        // read again, at most SPENT_REFRESH later.
        spend_elsewhere_at(&platform, "ann", 1_000, now).await;
        tokio::time::sleep(crate::ai::budget_cache::SPENT_REFRESH + Duration::from_millis(50)).await;
        assert_eq!(refusal(&platform, "ann", None, now).await.spent_nanos, 1_000);
        // An admin's new limit takes effect at once.
        platform.ai().set_budget(&ann(), BudgetPeriod::Month, 2_000).await.unwrap();
        assert!(admitted(&platform, "ann", None, now).await);
        spend_at(&platform, "ann", None, 1_000, now).await;
        assert!(!admitted(&platform, "ann", None, now).await, "this instance's own spending counts at once");
    }

    async fn ai_budget_check_covers_the_account_and_the_key(backend: Backend) {
        let test_db = TestDatabase::fresh(backend).await;
        let platform = platform(&test_db).await;
        account(&platform, "ann").await;
        api_key(&platform, "k1", "ann").await;
        api_key(&platform, "k2", "ann").await;
        let now = utc(2025, 6, 10, (12, 0, 0));
        let k1 = BudgetScope::ApiKey("k1".into());
        platform.ai().set_budget(&k1, BudgetPeriod::Day, 100).await.unwrap();
        spend_at(&platform, "ann", Some("k1"), 100, now - 60).await;

        // The key is spent; the account, and its other key, are not.
        let spent = refusal(&platform, "ann", Some("k1"), now).await;
        assert_eq!((spent.scope.clone(), spent.period), (k1.clone(), BudgetPeriod::Day));
        assert!(spent.to_string().contains("this API key"));
        assert!(admitted(&platform, "ann", Some("k2"), now).await);
        assert!(admitted(&platform, "ann", None, now).await);

        // The account's budget counts every key's spending.
        platform.ai().set_budget(&ann(), BudgetPeriod::Month, 150).await.unwrap();
        spend_at(&platform, "ann", Some("k2"), 50, now - 30).await;
        let spent = refusal(&platform, "ann", Some("k2"), now).await;
        assert_eq!((spent.scope.clone(), spent.spent_nanos), (ann(), 150));
        // Both spent: the one that resets last (the month) is reported.
        let spent = refusal(&platform, "ann", Some("k1"), now).await;
        assert_eq!(spent.period, BudgetPeriod::Month);
        assert_eq!(spent.resets_at, utc(2025, 7, 1, (0, 0, 0)));
        // Another account is unaffected.
        account(&platform, "bob").await;
        assert!(admitted(&platform, "bob", None, now).await);
    }
}

test_both_backends! {
    async fn ai_stream_dropped_by_the_client_is_charged_for_what_it_was_sent(backend: Backend) {
        const WORDS: [&str; 40] = ["word "; 40];
        let url = scripted_upstream(&WORDS, Ending::Stall);
        let test_db = TestDatabase::fresh(backend).await;
        let platform = platform_with_upstream(&test_db, &url).await;
        account(&platform, "ann").await;

        let mut answer = platform
            .ai().chat_stream(&ann_caller(), "fake/gpt-test", story_request())
            .await
            .unwrap();
        // The client reads 28 chunks and disconnects, long before the
        // upstream's usage event.
        for _ in 0..28 {
            let event = answer.stream.next().await.unwrap().unwrap();
            assert_eq!(event, StreamEvent::TextDelta { text: "word ".into() });
        }
        drop(answer.stream);

        let row = recorded(&platform, &answer.request_id).await;
        // 20 tokens of prompt; 28 × 5 = 140 characters sent, 35 tokens.
        assert_eq!(charged(&row), (20, 35, 20 * 1_000 + 35 * 2_000, "error"));
    }

    async fn ai_stream_cut_by_the_upstream_is_charged_for_what_was_sent(backend: Backend) {
        let url = scripted_upstream(&STORY, Ending::Cut);
        let test_db = TestDatabase::fresh(backend).await;
        let platform = platform_with_upstream(&test_db, &url).await;
        account(&platform, "ann").await;

        let answer = platform
            .ai().chat_stream(&ann_caller(), "fake/gpt-test", story_request())
            .await
            .unwrap();
        let events: Vec<StreamEvent> = answer.stream.map(Result::unwrap).collect().await;
        let (last, text) = events.split_last().unwrap();
        assert_eq!(*last, StreamEvent::Error { error: ProviderError::StreamBroken });
        assert_eq!(text.len(), STORY.len());

        let row = recorded(&platform, &answer.request_id).await;
        assert_eq!(charged(&row), (20, 7, 20 * 1_000 + 7 * 2_000, "error"));
    }

    async fn ai_stream_completed_is_charged_what_the_upstream_counted(backend: Backend) {
        let counted = Usage { input_tokens: 12, output_tokens: 4 };
        let url = scripted_upstream(&STORY, Ending::Complete(counted));
        let test_db = TestDatabase::fresh(backend).await;
        let platform = platform_with_upstream(&test_db, &url).await;
        account(&platform, "ann").await;

        let answer = platform
            .ai().chat_stream(&ann_caller(), "fake/gpt-test", story_request())
            .await
            .unwrap();
        let events: Vec<StreamEvent> = answer.stream.map(Result::unwrap).collect().await;
        assert!(matches!(events.last(), Some(StreamEvent::Done { .. })), "{events:?}");
        assert!(events.contains(&StreamEvent::Usage { usage: counted }));

        // Exactly the upstream's count, though the estimates (20 and 7)
        // are higher.
        let row = recorded(&platform, &answer.request_id).await;
        assert_eq!(charged(&row), (12, 4, 12 * 1_000 + 4 * 2_000, "ok"));
    }

    async fn ai_stream_completed_without_an_output_count_is_charged_the_estimate(backend: Backend) {
        // Text was sent, yet the upstream's count leaves the output at zero.
        let uncounted = Usage { input_tokens: 12, output_tokens: 0 };
        let url = scripted_upstream(&STORY, Ending::Complete(uncounted));
        let test_db = TestDatabase::fresh(backend).await;
        let platform = platform_with_upstream(&test_db, &url).await;
        account(&platform, "ann").await;

        let answer = platform
            .ai().chat_stream(&ann_caller(), "fake/gpt-test", story_request())
            .await
            .unwrap();
        let events: Vec<StreamEvent> = answer.stream.map(Result::unwrap).collect().await;
        assert!(matches!(events.last(), Some(StreamEvent::Done { .. })), "{events:?}");
        let row = recorded(&platform, &answer.request_id).await;
        assert_eq!(charged(&row), (12, 7, 12 * 1_000 + 7 * 2_000, "ok"));
    }
}

#[tokio::test]
async fn a_closed_database_refuses_rather_than_admits() {
    let test_db = TestDatabase::fresh(Backend::Sqlite).await;
    let platform = platform(&test_db).await;
    platform.db().close().await;
    assert!(matches!(
        platform.ai().check_budget(&"ann".into(), None, 0).await,
        Err(BudgetCheckError::Store(_))
    ));
}

#[test]
fn periods_start_and_end_in_utc() {
    let t = utc(2024, 12, 31, (18, 30, 0));
    assert_eq!(BudgetPeriod::Day.start(t), utc(2024, 12, 31, (0, 0, 0)));
    assert_eq!(BudgetPeriod::Day.end(t), utc(2025, 1, 1, (0, 0, 0)));
    assert_eq!(BudgetPeriod::Month.start(t), utc(2024, 12, 1, (0, 0, 0)));
    assert_eq!(BudgetPeriod::Month.end(t), utc(2025, 1, 1, (0, 0, 0)));
    for period in BudgetPeriod::ALL {
        assert_eq!(BudgetPeriod::parse(period.as_str()), Some(period));
    }
    assert_eq!(BudgetPeriod::parse("week"), None);
}
