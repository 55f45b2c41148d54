//! The notification centre: security events arrive, are read, and a kind
//! turned off is not kept; each member sees only their own.

use meritree_core::notifications::NotificationCentre;
use meritree_store::{test_both_backends, Backend};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{error_code, spawn_app, Session, TestApp};

async fn centre(app: &TestApp, session: &Session) -> NotificationCentre {
    serde_json::from_value(app.get_json("/api/v1/user/notifications", session).await).unwrap()
}

/// The next `notification` frame on the socket.
async fn next_notification(
    socket: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> serde_json::Value {
    use futures_util::StreamExt;
    loop {
        let message = tokio::time::timeout(std::time::Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket stays open")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(text) = message {
            let frame: serde_json::Value = serde_json::from_str(&text).unwrap();
            if frame["event"]["type"] == "notification" {
                return frame;
            }
        }
    }
}

test_both_backends! {
    async fn a_notification_is_pushed_to_its_members_open_pages(backend: Backend) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let mut request = format!("ws://{}/api/v1/ws", app.addr).into_client_request().unwrap();
        request.headers_mut().insert("origin", app.origin().parse().unwrap());
        request.headers_mut().insert("cookie", ann.cookie_header().parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        app.create_api_key(&ann, "pushed").await;
        let frame = next_notification(&mut socket).await;
        assert_eq!(frame["event"]["notification"]["title"], "New API key");
        assert_eq!(frame["event"]["notification"]["read"], false);
        app.stop().await;
    }


    async fn a_members_socket_closes_once_their_sign_in_ends(backend: Backend) {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::Message;
        let app = crate::helpers::spawn_app_with(backend, |settings| {
            settings.auth.socket_recheck_secs = 1;
        })
        .await;
        let mut ann = app.register("ann@example.org").await;
        let mut request = format!("ws://{}/api/v1/ws", app.addr).into_client_request().unwrap();
        request.headers_mut().insert("origin", app.origin().parse().unwrap());
        request.headers_mut().insert("cookie", ann.cookie_header().parse().unwrap());
        let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        // Still signed in: the first check passes, a notice arrives.
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        app.create_api_key(&ann, "still here").await;
        assert_eq!(next_notification(&mut socket).await["event"]["notification"]["title"], "New API key");

        let out = app.post_json("/api/v1/auth/logout", &mut ann, json!({})).await;
        assert_eq!(out.status(), 204);
        let closed = tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                match socket.next().await {
                    Some(Ok(Message::Close(Some(frame)))) => return u16::from(frame.code),
                    Some(Ok(_)) => continue,
                    other => panic!("closed without a frame: {other:?}"),
                }
            }
        })
        .await
        .expect("closed within 5 s");
        assert_eq!(closed, meritree_core::live::close_code::UNAUTHENTICATED);
        app.stop().await;
    }

    async fn notifications_are_kept_ninety_days(backend: Backend) {
        use meritree_platform::notifications::RETENTION_SECS;
        use meritree_store::notifications::{insert, NewNotification};
        let app = crate::helpers::spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let me = app.get_json("/api/v1/user/me", &ann).await;
        let account_id = me["id"].as_str().unwrap();
        let db = meritree_store::Database::connect(&app.db().target, meritree_store::PoolOptions::default())
            .await.unwrap();
        // Ten days ahead: the settlement loop (every second here) forgets
        // by today's clock, so it cannot take the old notice before this
        // call does and leave it nothing to report.
        let now = crate::helpers::unix_now() as i64 + 10 * 86_400;
        for (title, age) in [("last season", RETENTION_SECS + 60), ("last month", 30 * 86_400)] {
            insert(&db, NewNotification {
                account_id, kind: "security", title, body: "", link: None, now: now - age,
            }).await.unwrap();
        }
        assert_eq!(app.platform.notifications().forget_old(now).await.unwrap(), 1);
        let mut titles: Vec<String> = centre(&app, &ann).await.notifications.into_iter().map(|n| n.title).collect();
        titles.sort();
        assert_eq!(titles, ["New sign-in", "last month"]);
        assert_eq!(app.platform.notifications().forget_old(now).await.unwrap(), 0);
        app.stop().await;
    }

    async fn security_events_reach_the_centre_are_read_and_can_be_turned_off(backend: Backend) {
        let app = spawn_app(backend).await;
        let ann = app.register("ann@example.org").await;
        let key = app.create_api_key(&ann, "laptop").await;

        let seen = centre(&app, &ann).await;
        assert_eq!(seen.unread, 2);
        let titles: Vec<&str> = seen.notifications.iter().map(|n| n.title.as_str()).collect();
        assert_eq!(titles, ["New API key", "New sign-in"], "newest first");
        assert!(seen.notifications[0].body.contains("“laptop”"));
        assert_eq!(seen.notifications[0].link.as_deref(), Some("/account"));

        // A program with a read key sees the centre; only the owner's
        // session marks it read.
        let by_key = app.client.get(app.url("/api/v1/user/notifications"))
            .bearer_auth(&key.key).send().await.unwrap();
        assert_eq!(by_key.status(), 200);
        let refused = app.client.post(app.url("/api/v1/user/notifications/read"))
            .bearer_auth(&key.key).json(&json!({ "up_to": seen.notifications[0].id })).send().await.unwrap();
        assert_eq!(error_code(refused).await, "session_required");

        let mut ann = ann;
        let read = app.post_json("/api/v1/user/notifications/read", &mut ann,
            json!({ "up_to": seen.notifications[0].id })).await;
        assert_eq!(read.status(), 200);
        let read: NotificationCentre = read.json().await.unwrap();
        assert_eq!(read.unread, 0);
        assert!(read.notifications.iter().all(|n| n.read));

        // Security notices off: a new key is not kept.
        let muted = app.request(Method::PUT, "/api/v1/user/notification-preferences", &ann)
            .json(&json!({ "muted": ["security"] })).send().await.unwrap();
        assert_eq!(muted.status(), 200);
        app.create_api_key(&ann, "phone").await;
        assert_eq!(centre(&app, &ann).await.notifications.len(), 2);
        let preferences = app.get_json("/api/v1/user/notification-preferences", &ann).await;
        assert_eq!(preferences, json!({ "muted": ["security"] }));
        let unknown = app.request(Method::PUT, "/api/v1/user/notification-preferences", &ann)
            .json(&json!({ "muted": ["gossip"] })).send().await.unwrap();
        assert_eq!(unknown.status(), 400);
        assert_eq!(error_code(unknown).await, "invalid_request");

        // Bob sees his own, not Ann's.
        let bob = app.register("bob@example.org").await;
        let his = centre(&app, &bob).await;
        assert_eq!(his.notifications.len(), 1);
        let mut bob = bob;
        let foreign = app.post_json("/api/v1/user/notifications/read", &mut bob, json!({ "up_to": i64::MAX })).await;
        assert_eq!(foreign.json::<NotificationCentre>().await.unwrap().unread, 0);
        assert_eq!(centre(&app, &ann).await.notifications.len(), 2, "Ann's are untouched");
        app.stop().await;
    }
}
