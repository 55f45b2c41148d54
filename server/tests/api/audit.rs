//! The audit log: an admin's posting is recorded with who, what and the
//! balance before and after; an operator's role change too; concurrent
//! appends keep one chain; an edited entry is found; only admins read it.

use meritree_core::audit::{self, AuditAction, AuditPage, AuditVerification, GENESIS};
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{admin_session, error_code, spawn_app, Session, TestApp};

async fn get<T: serde::de::DeserializeOwned>(app: &TestApp, path: &str, session: &Session) -> T {
    let response = app
        .request(Method::GET, path, session)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

test_both_backends! {
    async fn admin_actions_are_audited_in_a_chain_that_shows_tampering(backend: Backend) {
        let app = spawn_app(backend).await;
        let mut admin = admin_session(&app).await;
        let mut ann = app.register("ann@example.org").await;
        let me: Value = get(&app, "/api/v1/user/me", &ann).await;
        let ann_id = me["id"].as_str().unwrap().to_owned();
        let admin_me: Value = get(&app, "/api/v1/user/me", &admin).await;

        let posting = json!({
            "account_id": ann_id, "amount": 40, "reason": "admin_adjustment", "idempotency_key": "gift-1"
        });
        assert_eq!(app.post_json("/api/v1/admin/points", &mut admin, posting.clone()).await.status(), 201);
        // A replay posts nothing and audits nothing.
        assert_eq!(app.post_json("/api/v1/admin/points", &mut admin, posting).await.status(), 200);
        // An operator's role change at the command line.
        app.platform
            .accounts()
            .set_role("ann@example.org", meritree_core::accounts::Role::NodeOperator)
            .await
            .unwrap();
        // An AI budget on Ann, and next round's theme.
        let budget = app
            .request(Method::PUT, &format!("/api/v1/admin/accounts/{ann_id}/ai-budgets/month"), &admin)
            .json(&json!({ "limit_nanos": 5_000_000_000u64 }))
            .send()
            .await
            .unwrap();
        assert_eq!(budget.status(), 200);
        let theme = app
            .request(Method::PUT, "/api/v1/admin/rounds/9/theme", &admin)
            .json(&json!({ "theme": "Bridges" }))
            .send()
            .await
            .unwrap();
        assert_eq!(theme.status(), 204);

        let page: AuditPage = get(&app, "/api/v1/admin/audit", &admin).await;
        assert_eq!(page.entries.len(), 4, "{page:?}");
        let posted = &page.entries[0];
        assert_eq!(
            (posted.actor.as_str(), posted.action.as_str(), posted.subject.as_str()),
            (admin_me["id"].as_str().unwrap(), AuditAction::PointsPosted.as_str(), ann_id.as_str())
        );
        let before: Value = serde_json::from_str(posted.before.as_deref().unwrap()).unwrap();
        let after: Value = serde_json::from_str(posted.after.as_deref().unwrap()).unwrap();
        assert_eq!((before["balance"].as_i64(), after["balance"].as_i64(), after["amount"].as_i64()), (Some(0), Some(40), Some(40)));
        let role = &page.entries[1];
        assert_eq!((role.actor.as_str(), role.action.as_str()), ("cli", "role_changed"));
        assert_eq!(role.after.as_deref(), Some(r#"{"role":"node_operator"}"#));
        let actions: Vec<&str> = page.entries[2..].iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["ai_budget_changed", "round_theme_set"]);
        assert_eq!(page.entries[2].subject, ann_id);
        assert_eq!(page.entries[3].after.as_deref(), Some(r#"{"theme":"Bridges"}"#));
        // The export checks out on its own, as anyone holding it can check.
        let (last, head) = audit::verify_chain(&page.entries, 0, GENESIS).unwrap();
        assert_eq!(last, 4);

        // Instances appending at once still make one chain.
        let writes = (0..12).map(|i| {
            let platform = app.platform.clone();
            async move {
                platform
                    .audit()
                    .record("cli", AuditAction::TotpReset, &format!("acct-{i}"), None, None)
                    .await
                    .unwrap()
            }
        });
        futures_util::future::join_all(writes).await;
        let verified: AuditVerification = get(&app, "/api/v1/admin/audit/verify", &admin).await;
        assert_eq!((verified.entries, verified.broken), (16, None));
        let page: AuditPage = get(&app, "/api/v1/admin/audit?after=4&limit=5", &admin).await;
        assert_eq!((page.entries.len(), page.next_after), (5, Some(9)));
        assert_eq!(page.entries[0].prev_hash, head);

        // A posting whose entry was never written (the write failed after
        // the posting): the admin's retry, a replay, fills the gap, once.
        let posting = meritree_platform::points::PointsPosting {
            account_id: &ann_id,
            amount: 3,
            reason: meritree_core::points::PointsReason::AdminAdjustment,
            reference: None,
            idempotency_key: "gift-2",
        };
        let unaudited = app.platform.points().post(posting).await.unwrap();
        for _ in 0..2 {
            let replayed = app.platform.points().post_by_admin("cli", posting).await.unwrap();
            assert!(replayed.replayed);
        }
        let verified: AuditVerification = get(&app, "/api/v1/admin/audit/verify", &admin).await;
        assert_eq!((verified.entries, verified.broken), (17, None));
        let last: AuditPage = get(&app, "/api/v1/admin/audit?after=16", &admin).await;
        let after: Value = serde_json::from_str(last.entries[0].after.as_deref().unwrap()).unwrap();
        assert_eq!(after["entry"].as_i64(), Some(unaudited.entry.id));

        // The export is the whole log, a file that checks out on its own;
        // the console's call reads the same pages.
        let export = app.request(Method::GET, "/api/v1/admin/audit/export", &admin).send().await.unwrap();
        assert_eq!(export.status(), 200);
        assert!(export.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
        let exported: Vec<audit::AuditEntry> = export.json().await.unwrap();
        assert_eq!(exported.len(), 17);
        assert_eq!(audit::verify_chain(&exported, 0, GENESIS).unwrap().0, 17);
        let console = app.request(Method::POST, "/api/admin/audit_entries", &admin).form(&[("after", "15")]).send().await.unwrap();
        assert_eq!(console.status(), 200);
        let console: AuditPage = console.json().await.unwrap();
        assert_eq!(console.entries, exported[15..]);

        // Anyone else is refused; bad paging is a clear 400.
        for path in ["/api/v1/admin/audit", "/api/v1/admin/audit/export"] {
            let refused = app.request(Method::GET, path, &ann).send().await.unwrap();
            assert_eq!(error_code(refused).await, "forbidden");
        }
        let refused = app.request(Method::POST, "/api/admin/audit_entries", &ann).form(&[("after", "0")]).send().await.unwrap();
        assert_eq!(refused.status(), 403);
        let bad = app.request(Method::GET, "/api/v1/admin/audit?after=x", &admin).send().await.unwrap();
        assert_eq!(error_code(bad).await, "invalid_request");
        let _ = &mut ann;

        // Someone with the database edits an entry: the check says which.
        let db = meritree_store::Database::connect(&app.db().target, meritree_store::PoolOptions::default())
            .await
            .unwrap();
        meritree_store::testing::execute_raw(&db, "UPDATE audit_log SET state_after = '{\"balance\":4000}' WHERE seq = 1")
            .await;
        let verified: AuditVerification = get(&app, "/api/v1/admin/audit/verify", &admin).await;
        assert_eq!(verified.broken.map(|b| b.seq), Some(1));
        db.close().await;
        app.stop().await;
    }
}
