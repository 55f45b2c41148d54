//! Compute nodes: registering (an operator's session or `node` key), a
//! node's public status, the network's nodes, and the socket a node keeps
//! open for heartbeats and tasks.

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Json;
use meritree_core::compute::protocol::{FromNode, ToNode, MAX_FRAME_BYTES};
use meritree_core::compute::review::{NodeReview, NodeReviewView};
use meritree_core::compute::{NodeId, NodeRegistration, NodeView, NodesStats};
use meritree_core::ErrorCode;
use meritree_platform::access::{ApiScope, AuthCheck};
use meritree_platform::compute::NodeLink;
use meritree_platform::error::PublicError;
use meritree_platform::principal::Principal;
use meritree_platform::Platform;
use std::time::{Duration, Instant};

use super::live::socket_upgrade;
use crate::auth::Caller;
use crate::error::{ApiError, ApiJson};
use crate::routes::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(mine))
        .routes(routes!(stats))
        .routes(routes!(status))
        // A WebSocket, which OpenAPI cannot describe: left out of the document.
        .route("/nodes/{id}/connect", get(connect))
        .routes(routes!(flagged))
        .routes(routes!(review))
        .routes(routes!(reviews))
}

/// `POST /api/v1/nodes/register`: `{name, models, capacity}`. 201 with the
/// node; registering a name again updates that node. Operators only, with
/// the network's minimum stake when it has one (403 `stake_too_low`).
#[utoipa::path(post, path = "/nodes/register", request_body = NodeRegistration, responses((status = 201, body = NodeView)))]
async fn register(
    State(platform): State<Platform>,
    Caller(request): Caller,
    ApiJson(registration): ApiJson<NodeRegistration>,
) -> Result<(StatusCode, Json<NodeView>), ApiError> {
    let me = platform
        .authorize(&request, AuthCheck::scope(ApiScope::Node))
        .await?;
    let node = platform.compute().register_node(&me, registration).await?;
    Ok((StatusCode::CREATED, Json(node)))
}

/// `GET /api/v1/nodes/mine`: the caller's nodes.
#[utoipa::path(get, path = "/nodes/mine", responses((status = 200, body = [NodeView])))]
async fn mine(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<Vec<NodeView>>, ApiError> {
    let me = platform.authorize(&request, AuthCheck::read()).await?;
    Ok(Json(platform.compute().my_nodes(&me).await?))
}

/// `GET /api/v1/nodes/stats`: nodes by status and the online ones, most
/// reputable first (public).
#[utoipa::path(get, path = "/nodes/stats", responses((status = 200, body = NodesStats)))]
async fn stats(State(platform): State<Platform>) -> Result<Json<NodesStats>, ApiError> {
    Ok(Json(platform.compute().nodes_stats().await?))
}

/// `GET /api/v1/nodes/{id}/status`: one node (public).
#[utoipa::path(get, path = "/nodes/{id}/status", params(("id" = String, Path)), responses((status = 200, body = NodeView)))]
async fn status(
    State(platform): State<Platform>,
    Path(id): Path<NodeId>,
) -> Result<Json<NodeView>, ApiError> {
    Ok(Json(platform.compute().node(&id).await?))
}

/// `GET /api/v1/admin/nodes/flagged` (admin): nodes whose results
/// disagreed with other nodes' often enough to be reviewed.
#[utoipa::path(get, path = "/admin/nodes/flagged", responses((status = 200, body = [NodeView])))]
async fn flagged(
    State(platform): State<Platform>,
    Caller(request): Caller,
) -> Result<Json<Vec<NodeView>>, ApiError> {
    platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(platform.compute().flagged().await?))
}

/// `POST /api/v1/admin/nodes/{id}/review` (admin): `{slash, reason}`. A
/// slash (base units, a decimal string) is sent on chain through the
/// outbox; without one the flag is cleared. 201 with the review; 409
/// `not_flagged` when the node is not (or no longer) flagged.
#[utoipa::path(post, path = "/admin/nodes/{id}/review", params(("id" = String, Path)), request_body = NodeReview, responses((status = 201, body = NodeReviewView)))]
async fn review(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<NodeId>,
    ApiJson(review): ApiJson<NodeReview>,
) -> Result<(StatusCode, Json<NodeReviewView>), ApiError> {
    let me = platform.authorize(&request, AuthCheck::admin()).await?;
    let review = platform.compute().review(&me, &id, review).await?;
    Ok((StatusCode::CREATED, Json(review)))
}

/// `GET /api/v1/admin/nodes/{id}/reviews` (admin): the node's reviews,
/// newest first, with their slashes' transactions.
#[utoipa::path(get, path = "/admin/nodes/{id}/reviews", params(("id" = String, Path)), responses((status = 200, body = [NodeReviewView])))]
async fn reviews(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<NodeId>,
) -> Result<Json<Vec<NodeReviewView>>, ApiError> {
    platform.authorize(&request, AuthCheck::admin()).await?;
    Ok(Json(platform.compute().reviews(&id).await?))
}

/// `GET /api/v1/nodes/{id}/connect` (WebSocket; the operator's `node` key):
/// the node's one connection. Frames are `core::compute::protocol`'s.
async fn connect(
    State(platform): State<Platform>,
    Caller(request): Caller,
    Path(id): Path<NodeId>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = socket_upgrade(&platform, &headers, upgrade)?;
    let me = platform
        .authorize(&request, AuthCheck::scope(ApiScope::Node))
        .await?;
    let link = platform.compute().connect(&me, &id).await?;
    let silence =
        std::time::Duration::from_secs(platform.compute_policy().heartbeat_secs.saturating_mul(3));
    Ok(upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |ws| serve(platform, ws, link, silence, me)))
}

/// Whether the credential the node connected with still lets it run the
/// node: `Err` with the reason when the key was revoked, the sign-in ended
/// or the operator lost the role. Checked by the credential's id, so a
/// wallet node stays connected when the access token it opened with
/// expires while its session lives on. A failure to check (the database
/// away) is not a refusal.
async fn still_allowed(
    platform: &Platform,
    me: &Principal,
    node: &NodeId,
) -> Result<(), ErrorCode> {
    let refusal = |code: ErrorCode| {
        if matches!(code.http_status(), 401 | 403 | 404) {
            Err(code)
        } else {
            Ok(())
        }
    };
    let me = match platform.standing(me).await {
        Ok(me) => me,
        Err(err) => return refusal(err.code()),
    };
    match platform.compute().still_runs(&me, node).await {
        Ok(()) => Ok(()),
        Err(err) => refusal(err.code()),
    }
}

/// Frames a node may send per second (heartbeats, answer pieces, results).
const MAX_FRAMES_PER_SEC: u32 = 500;
/// Seconds in a row a node may spend its whole budget before its socket is
/// closed.
const MAX_SPENT_SECS: u32 = 10;

/// What a node may send. Past its budget the socket is not read until the
/// second is over: a node streaming fast slows down (TCP holds its frames
/// back) and nothing it sent is lost. Its heartbeats then wait behind its
/// other frames, so while it is behind any frame shows it alive; behind for
/// [`MAX_SPENT_SECS`] in a row, it is closed. Every message counts, pings
/// and binary frames too.
struct FrameBudget {
    window: Instant,
    frames: u32,
    spent_secs: u32,
}

impl FrameBudget {
    fn new() -> Self {
        Self {
            window: Instant::now(),
            frames: 0,
            spent_secs: 0,
        }
    }

    fn spent(&self) -> bool {
        self.frames >= MAX_FRAMES_PER_SEC
    }

    fn renews_at(&self) -> tokio::time::Instant {
        (self.window + Duration::from_secs(1)).into()
    }

    /// A message was read.
    fn count(&mut self) {
        if self.window.elapsed() >= Duration::from_secs(1) {
            // A second went by without spending the budget.
            (self.window, self.frames, self.spent_secs) = (Instant::now(), 0, 0);
        }
        self.frames += 1;
    }

    /// The second a spent budget waited for is over.
    fn renew(&mut self) {
        (self.window, self.frames) = (Instant::now(), 0);
        self.spent_secs += 1;
    }

    /// Its frames arrive slower than it sends them.
    fn behind(&self) -> bool {
        self.spent_secs > 0
    }

    fn exhausted(&self) -> bool {
        self.spent_secs >= MAX_SPENT_SECS
    }
}

/// How long a frame to the node may take to send: a node that stops
/// reading is gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

async fn serve(
    platform: Platform,
    mut ws: WebSocket,
    mut link: NodeLink,
    silence: Duration,
    me: Principal,
) {
    let _counted = platform.metrics().websocket_opened();
    let compute = platform.compute();
    let recheck = Duration::from_secs(platform.compute_policy().credential_recheck_secs.max(1));
    let mut checked_at = Instant::now();
    // Only heartbeats prove the node alive (other traffic does not), unless
    // they wait behind its other frames (see `FrameBudget`).
    let mut last_heartbeat = Instant::now();
    let mut watch = tokio::time::interval(Duration::from_secs(1));
    let mut budget = FrameBudget::new();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(budget.renews_at()), if budget.spent() => {
                budget.renew();
                if budget.exhausted() {
                    tracing::warn!(node = %link.node_id, "node over its frame budget for too long: closing");
                    close(&mut ws, "too many frames").await;
                    break;
                }
            }
            frame = link.frames.recv() => {
                let Some(frame) = frame else { break };
                if !send(&mut ws, &frame).await {
                    break;
                }
            }
            _ = watch.tick() => {
                if last_heartbeat.elapsed() > silence {
                    tracing::info!(node = %link.node_id, "node silent past three heartbeats: closing");
                    close(&mut ws, "no heartbeat").await;
                    break;
                }
                if checked_at.elapsed() >= recheck {
                    checked_at = Instant::now();
                    if let Err(code) = still_allowed(&platform, &me, &link.node_id).await {
                        tracing::info!(node = %link.node_id, code = code.as_str(), "node's credential no longer holds: closing");
                        close(&mut ws, "credential no longer valid").await;
                        break;
                    }
                }
            }
            incoming = ws.recv(), if !budget.spent() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    budget.count();
                    let reply = match serde_json::from_str::<FromNode>(&text) {
                        Ok(frame) => {
                            if matches!(frame, FromNode::Heartbeat { .. }) || budget.behind() {
                                last_heartbeat = Instant::now();
                            }
                            compute.on_frame(&link, frame).await
                        }
                        Err(err) => Some(ToNode::Refused {
                            id: None,
                            code: ErrorCode::InvalidRequest.as_str().to_owned(),
                            message: format!("not a node frame: {err}"),
                        }),
                    };
                    if let Some(reply) = reply {
                        if !send(&mut ws, &reply).await {
                            break;
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => budget.count(),
            },
        }
    }
    compute.disconnect(link).await;
}

async fn send(ws: &mut WebSocket, frame: &ToNode) -> bool {
    let text = serde_json::to_string(frame).expect("frames serialise");
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, ws.send(Message::Text(text.into()))).await,
        Ok(Ok(()))
    )
}

async fn close(ws: &mut WebSocket, reason: &'static str) {
    let frame = Message::Close(Some(CloseFrame {
        code: axum::extract::ws::close_code::POLICY,
        reason: reason.into(),
    }));
    let _ = tokio::time::timeout(SEND_TIMEOUT, ws.send(frame)).await;
}
