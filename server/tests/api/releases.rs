//! A page running another release of the client than the server serves is
//! told, first thing on its live socket, that it must reload.

use futures_util::StreamExt;
use meritree_core::live::{Audience, LiveEvent};
use meritree_store::{test_both_backends, Backend};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{error_code, spawn_app_with, TestApp};

const SERVED: &str = "0123456789abcdef";

async fn first_frame(app: &TestApp, query: &str) -> serde_json::Value {
    let mut request = format!("ws://{}/api/v1/ws{query}", app.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", app.origin().parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    // Something to hear when nothing else is said first: said again until
    // the socket (subscribed once the upgrade completes) hears it.
    for _ in 0..50 {
        app.platform
            .hub()
            .publish(Audience::Everyone, LiveEvent::Resync);
        match tokio::time::timeout(std::time::Duration::from_millis(200), socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => return serde_json::from_str(&text).unwrap(),
            Ok(Some(Ok(_))) | Err(_) => continue,
            Ok(other) => panic!("the socket closed: {other:?}"),
        }
    }
    panic!("no frame within 10 s");
}

test_both_backends! {
    async fn a_page_of_another_release_is_told_to_reload(backend: Backend) {
        let app = spawn_app_with(backend, |settings| {
            let pkg = settings.site.root.join("pkg");
            std::fs::create_dir_all(&pkg).unwrap();
            std::fs::write(pkg.join("bundle"), format!("{SERVED}\n")).unwrap();
        })
        .await;
        let older = first_frame(&app, "?release=fedcba9876543210").await;
        assert_eq!(older["event"]["type"], "outdated");
        assert_eq!(older["event"]["release"], SERVED);
        let resumed = first_frame(&app, "?since=0&release=fedcba9876543210").await;
        assert_eq!(resumed["event"]["type"], "outdated", "before any backlog");

        // The release served, or none named (a program): nothing to say.
        for query in [format!("?release={SERVED}"), String::new()] {
            let first = first_frame(&app, &query).await;
            assert_ne!(first["event"]["type"], "outdated", "{query}");
        }
        for bad in ["?release=../../x", "?release=FEDCBA9876543210", "?release="] {
            let refused = app.client.get(app.url(&format!("/api/v1/ws{bad}"))).send().await.unwrap();
            assert_eq!(refused.status(), 400, "{bad}");
            assert_eq!(error_code(refused).await, "invalid_request");
        }
        app.stop().await;
    }
}
