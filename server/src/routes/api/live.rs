//! `GET /api/v1/ws`: the live-event socket. Anyone may listen to public
//! events (rounds, leaderboards, submissions moving through their stages);
//! a session cookie or API key adds the account's own (points credited).
//!
//! The upgrade checks `Origin` like any cookie-carrying request, so another
//! site's page cannot open a socket as the member. `?since=<seq>` resumes
//! after a reconnect; a client too far behind gets `resync` and reloads.
//! `?release=<bundle hash>` names the client the page runs: another release
//! than the server serves is told first (`outdated`) that it must reload.
//! A member's socket checks its sign-in (or key) again every
//! `auth.socket_recheck_secs` and closes (4001) once it ended.

use axum::extract::rejection::QueryRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::header::ORIGIN;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use meritree_core::live::{close_code, is_release, Envelope, LiveEvent};
use meritree_core::ErrorCode;
use meritree_platform::error::PublicError;
use meritree_platform::live::Addressed;
use meritree_platform::principal::Principal;
use meritree_platform::Platform;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::routes::AppState;
use crate::web_client::WebClient;
use utoipa_axum::router::OpenApiRouter;

/// A WebSocket, which OpenAPI cannot describe: left out of the document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().route("/ws", get(socket))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Resume {
    since: Option<u64>,
    /// The client release the page runs.
    release: Option<String>,
}

async fn socket(
    State(platform): State<Platform>,
    State(web_client): State<WebClient>,
    Caller(request): Caller,
    headers: HeaderMap,
    query: Result<Query<Resume>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let Query(resume) =
        query.map_err(|r| ApiError::new(ErrorCode::InvalidRequest, r.body_text()))?;
    if resume.release.as_deref().is_some_and(|r| !is_release(r)) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "release is the client bundle's hash: 16 lowercase hexadecimal digits",
        ));
    }
    // Only a server whose client is named by release can tell.
    let outdated = match (resume.release, web_client.release) {
        (Some(page), Some(served)) if page != served => Some(served),
        _ => None,
    };
    let upgrade = socket_upgrade(&platform, &headers, upgrade)?;
    let caller = platform.optional_caller(&request).await;
    Ok(upgrade
        // Clients only ever send pings and closes.
        .max_message_size(4096)
        .on_upgrade(move |ws| serve(platform, ws, caller, resume.since, outdated)))
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

async fn serve(
    platform: Platform,
    mut ws: WebSocket,
    caller: Option<Principal>,
    since: Option<u64>,
    outdated: Option<String>,
) {
    let _counted = platform.metrics().websocket_opened();
    let account = caller.as_ref().map(|p| p.account_id.to_string());
    // The socket outlives the access token it opened with: the sign-in (or
    // key) is checked again now and then, and once it ended the account's
    // events stop.
    let mut recheck = tokio::time::interval(std::time::Duration::from_secs(
        platform.session_policy().socket_recheck_secs.max(1),
    ));
    recheck.reset();
    // Subscribed before the backlog is read: nothing falls in between.
    let mut events = platform.hub().subscribe();
    let mut last = since.unwrap_or_else(|| platform.hub().last_seq());
    if let Some(release) = outdated {
        if !send_now(&mut ws, last, LiveEvent::Outdated { release }).await {
            return;
        }
    }
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
            if !send_now(&mut ws, last, LiveEvent::Resync).await {
                return;
            }
        }
    }
    loop {
        tokio::select! {
            _ = recheck.tick(), if caller.is_some() => {
                if let Some(caller) = &caller {
                    if let Err(err) = platform.standing(caller).await {
                        if matches!(err.code().http_status(), 401 | 403) {
                            let why = "signed out: the account's events stopped";
                            close(&mut ws, close_code::UNAUTHENTICATED, why).await;
                            return;
                        }
                    }
                }
            }
            event = events.recv() => match event {
                Ok(addressed) if addressed.envelope.seq > last => {
                    last = addressed.envelope.seq;
                    if !send(&mut ws, &addressed, account.as_deref()).await {
                        return;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => {
                    close(&mut ws, close_code::TOO_SLOW, "too slow: reconnect with ?since=").await;
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

/// Ends the socket with `code`, saying why; a socket already gone is left be.
async fn close(ws: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }));
    let _ = ws.send(frame).await;
}

/// Sends a frame of this socket's own (not from the hub); false once the
/// socket is gone.
async fn send_now(ws: &mut WebSocket, seq: u64, event: LiveEvent) -> bool {
    let text = serde_json::to_string(&Envelope { seq, event }).expect("events serialise");
    ws.send(Message::Text(text.into())).await.is_ok()
}

/// Sends `addressed` when it is for this socket; false once the socket is gone.
async fn send(ws: &mut WebSocket, addressed: &Addressed, account: Option<&str>) -> bool {
    if !addressed.is_for(account) {
        return true;
    }
    let text = Utf8Bytes::try_from(addressed.frame.clone()).expect("serde_json writes UTF-8");
    ws.send(Message::Text(text)).await.is_ok()
}
