//! `GET /api/v1/ws`: the live-event socket. Anyone may listen to public
//! events (rounds, leaderboards, submissions moving through their stages);
//! a session cookie or API key adds the account's own (points credited).
//!
//! The upgrade checks `Origin` like any cookie-carrying request, so another
//! site's page cannot open a socket as the member. `?since=<seq>` resumes
//! after a reconnect; a client too far behind gets `resync` and reloads.

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::header::ORIGIN;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use meritree_core::live::{close_code, Envelope, LiveEvent};
use meritree_core::ErrorCode;
use meritree_platform::live::Addressed;
use meritree_platform::Platform;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;

/// A WebSocket, which OpenAPI cannot describe: left out of the document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().route("/ws", get(socket))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resume {
    since: Option<u64>,
}

async fn socket(
    State(platform): State<Platform>,
    Caller(request): Caller,
    headers: HeaderMap,
    query: Result<Query<Resume>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(resume) =
        query.map_err(|r| ApiError::new(ErrorCode::InvalidRequest, r.body_text()))?;
    let upgrade = socket_upgrade(&platform, &headers, upgrade)?;
    let account = platform
        .optional_caller(&request)
        .await
        .map(|p| p.account_id.to_string());
    Ok(upgrade
        // Clients only ever send pings and closes.
        .max_message_size(4096)
        .on_upgrade(move |ws| serve(platform, ws, account, resume.since)))
}

/// The upgrade of a socket route: refused unless the request asks for a
/// WebSocket, and (see [`check_socket_origin`]) unless a page asking is
/// this site's.
pub(super) fn socket_upgrade(
    platform: &Platform,
    headers: &HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<WebSocketUpgrade, ApiError> {
    let upgrade = upgrade.map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "this route speaks WebSocket only",
        )
    })?;
    check_socket_origin(platform, headers)?;
    // A socket's read buffer is allocated whole when it opens (128 KiB by
    // default): with hundreds of nodes and pages connected that was most
    // of the server's memory, for frames of a few hundred bytes. It grows
    // when a larger frame arrives.
    Ok(upgrade
        .read_buffer_size(SOCKET_READ_BUFFER_BYTES)
        .write_buffer_size(SOCKET_WRITE_BUFFER_BYTES))
}

const SOCKET_READ_BUFFER_BYTES: usize = 4 * 1024;
const SOCKET_WRITE_BUFFER_BYTES: usize = 4 * 1024;

/// A socket opened by a page must be one of this site's: another site's
/// page cannot open one with the member's cookie. Programs send no
/// `Origin`.
fn check_socket_origin(platform: &Platform, headers: &HeaderMap) -> Result<(), ApiError> {
    if let Some(origin) = headers.get(ORIGIN) {
        if !origin.to_str().is_ok_and(|o| platform.site().allows(o)) {
            return Err(ApiError::new(
                ErrorCode::CsrfRejected,
                "sockets are opened from this site's own pages",
            ));
        }
    }
    Ok(())
}

async fn serve(platform: Platform, mut ws: WebSocket, account: Option<String>, since: Option<u64>) {
    let _counted = platform.metrics().websocket_opened();
    // Subscribed before the backlog is read: nothing falls in between.
    let mut events = platform.hub().subscribe();
    let mut last = since.unwrap_or_else(|| platform.hub().last_seq());
    if let Some(since) = since {
        let backlog = platform.hub().since(since);
        let resync = backlog.is_none();
        for addressed in backlog.unwrap_or_default() {
            if !send(&mut ws, &addressed, account.as_deref()).await {
                return;
            }
            last = addressed.envelope.seq;
        }
        if resync {
            last = platform.hub().last_seq();
            let frame = Envelope {
                seq: last,
                event: LiveEvent::Resync,
            };
            let text = serde_json::to_string(&frame).expect("events serialise");
            if ws.send(Message::Text(text.into())).await.is_err() {
                return;
            }
        }
    }
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(addressed) if addressed.envelope.seq > last => {
                    last = addressed.envelope.seq;
                    if !send(&mut ws, &addressed, account.as_deref()).await {
                        return;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    let _ = ws
                        .send(Message::Close(Some(CloseFrame {
                            code: close_code::TOO_SLOW,
                            reason: "too slow: reconnect with ?since=".into(),
                        })))
                        .await;
                    return;
                }
                Err(RecvError::Closed) => return,
            },
            incoming = ws.recv() => match incoming {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Sends `addressed` when it is for this socket; false once the socket is gone.
async fn send(ws: &mut WebSocket, addressed: &Addressed, account: Option<&str>) -> bool {
    if !addressed.is_for(account) {
        return true;
    }
    let text = Utf8Bytes::try_from(addressed.frame.clone()).expect("serde_json writes UTF-8");
    ws.send(Message::Text(text)).await.is_ok()
}
