//! `meritree node`: a compute node on an operator's machine. It registers
//! with the platform (name, models, capacity), keeps one WebSocket open for
//! heartbeats and tasks — reconnecting with backoff when it drops — runs
//! each task on its [`backend`], streams chat answers piece by piece, and
//! returns the result. On SIGTERM or SIGINT it drains: takes no new tasks,
//! finishes what it holds (handing back what is still running after the
//! drain period), then exits.

mod auth;
pub mod backend;

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use meritree_core::compute::protocol::{FromNode, ToNode, MAX_DELTA_CHARS, MAX_FRAME_BYTES};
use meritree_core::compute::{NodeId, NodeRegistration, NodeView, TaskId};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

pub use auth::Credential;
pub use backend::Backend;

/// How the node runs.
pub struct NodeOptions {
    /// The platform, e.g. `https://meritree.example`.
    pub server: String,
    /// The operator's API key (with the `node` scope) or wallet; the
    /// account has the `node_operator` role.
    pub credential: Credential,
    pub registration: NodeRegistration,
    pub backend: Backend,
    /// How long a drain waits for running tasks before handing them back.
    pub drain: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("the server URL must start with http:// or https://: {0}")]
    ServerUrl(String),
    #[error("the platform refused the node: {status} {body}")]
    Refused { status: u16, body: String },
    #[error("the platform did not answer: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the wallet key file does not hold a private key (64 hex digits)")]
    WalletKey,
    #[error("signing in with the wallet failed: {0}")]
    Siwe(String),
}

/// Backoff between reconnections: doubling from half a second to 30 s.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Registers, then serves tasks until `shutdown` completes and the node
/// has drained.
pub async fn run(
    options: NodeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    let server = options.server.trim_end_matches('/').to_owned();
    let socket_base = if let Some(rest) = server.strip_prefix("https://") {
        format!("wss://{rest}")
    } else if let Some(rest) = server.strip_prefix("http://") {
        format!("ws://{rest}")
    } else {
        return Err(NodeError::ServerUrl(server));
    };
    let auth = auth::Auth::new(options.credential, &server, reqwest::Client::new());
    let options = Options {
        registration: options.registration,
        backend: options.backend,
        drain: options.drain,
        auth,
    };
    let node = register(&server, &options).await?;
    tracing::info!(node = %node.id, name = %node.name, models = ?node.models, "node registered");
    let url = format!("{socket_base}/api/v1/nodes/{}/connect", node.id);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut backoff = BACKOFF_MIN;
    loop {
        if *stop_rx.borrow() {
            return Ok(());
        }
        match session(&url, &options, &node.id, &mut stop_rx).await {
            Ok(Ended::Stopped) => return Ok(()),
            Ok(Ended::Dropped) => {
                tracing::warn!("connection to the platform dropped; reconnecting");
                backoff = BACKOFF_MIN;
            }
            Err(SessionError::Fatal(err)) => return Err(err),
            Err(SessionError::Retry(reason)) => {
                tracing::warn!(%reason, retry_in = ?backoff, "cannot reach the platform");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(jitter(backoff)) => {}
            _ = stop_rx.changed() => return Ok(()),
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// [`NodeOptions`] with the credential ready to use.
struct Options {
    registration: NodeRegistration,
    backend: Backend,
    drain: Duration,
    auth: auth::Auth,
}

async fn register(server: &str, options: &Options) -> Result<NodeView, NodeError> {
    let client = reqwest::Client::new();
    let send = async || {
        let bearer = options.auth.bearer().await?;
        Ok::<_, NodeError>(
            client
                .post(format!("{server}/api/v1/nodes/register"))
                .header(reqwest::header::AUTHORIZATION, bearer)
                .json(&options.registration)
                .send()
                .await?,
        )
    };
    let mut response = send().await?;
    // A wallet's session token ran out: sign in again, once.
    if response.status() == reqwest::StatusCode::UNAUTHORIZED && options.auth.renewable() {
        options.auth.expired().await;
        response = send().await?;
    }
    Ok(auth::checked(response).await?.json().await?)
}

enum Ended {
    /// Drained after a stop signal.
    Stopped,
    /// The connection went away: reconnect.
    Dropped,
}

enum SessionError {
    Fatal(NodeError),
    Retry(String),
}

/// One connection, from the handshake until it drops or the node stops.
async fn session(
    url: &str,
    options: &Options,
    node: &NodeId,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<Ended, SessionError> {
    let mut request = url
        .into_client_request()
        .map_err(|e| SessionError::Fatal(NodeError::ServerUrl(e.to_string())))?;
    let bearer = match options.auth.bearer().await {
        Ok(bearer) => bearer,
        // A refusal of the wallet's sign-in does not mend; the platform
        // being away does.
        Err(err @ (NodeError::Refused { .. } | NodeError::WalletKey | NodeError::Siwe(_))) => {
            return Err(SessionError::Fatal(err))
        }
        Err(err) => return Err(SessionError::Retry(err.to_string())),
    };
    let bearer = bearer
        .parse()
        .map_err(|_| SessionError::Fatal(NodeError::ServerUrl("bad API key".into())))?;
    request.headers_mut().insert("authorization", bearer);
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES))
        // The platform's frames are small; the buffer grows for a larger one.
        .read_buffer_size(4 * 1024);
    // Nagle off: a task's frames (started, each delta, completed) are small
    // and must not wait for the platform's delayed ACKs.
    let (socket, _) =
        match tokio_tungstenite::connect_async_with_config(request, Some(config), true).await {
            Ok(connected) => connected,
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let body = response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                // A wallet's session token ran out: sign in again.
                if status == 401 && options.auth.renewable() {
                    options.auth.expired().await;
                    return Err(SessionError::Retry("the session expired".into()));
                }
                // Refusals about who we are do not mend by retrying.
                if matches!(status, 401 | 403 | 404) {
                    return Err(SessionError::Fatal(NodeError::Refused { status, body }));
                }
                return Err(SessionError::Retry(format!("{status} {body}")));
            }
            Err(err) => return Err(SessionError::Retry(err.to_string())),
        };
    let (mut sink, mut stream) = socket.split();
    let (out_tx, mut out_rx) = mpsc::channel::<FromNode>(1024);
    let mut running: HashMap<TaskId, (u64, JoinHandle<()>)> = HashMap::new();
    let mut heartbeat = tokio::time::interval(Duration::from_secs(5));
    let mut draining_until: Option<tokio::time::Instant> = None;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<(TaskId, u64)>();
    tracing::info!(%node, "connected to the platform");
    let ended = loop {
        let drain_deadline = async {
            match draining_until {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => match serde_json::from_str::<ToNode>(&text) {
                    Ok(ToNode::Welcome { heartbeat_secs, .. }) => {
                        heartbeat = tokio::time::interval(Duration::from_secs(heartbeat_secs.max(1)));
                    }
                    Ok(ToNode::Task { id, lease, input }) => {
                        if draining_until.is_some() {
                            let _ = out_tx.send(FromNode::Release { id, lease }).await;
                            continue;
                        }
                        tracing::info!(task = %id, model = input.model(), "task received");
                        // The same task again (a new lease): the old run stops.
                        if let Some((_, old)) = running.remove(&id) {
                            old.abort();
                        }
                        let handle = tokio::spawn(run_task(
                            options.backend.clone(),
                            id.clone(),
                            lease,
                            input,
                            out_tx.clone(),
                            done_tx.clone(),
                        ));
                        running.insert(id, (lease, handle));
                    }
                    Ok(ToNode::Abandon { id, lease }) => {
                        // Only the run under that lease: a newer one stays.
                        if running.get(&id).is_some_and(|(held, _)| *held == lease) {
                            if let Some((_, handle)) = running.remove(&id) {
                                tracing::info!(task = %id, "task abandoned by the platform");
                                handle.abort();
                            }
                        }
                    }
                    Ok(ToNode::Accepted { .. }) => {}
                    Ok(ToNode::Refused { id, code, message }) => {
                        tracing::warn!(task = ?id, %code, %message, "the platform refused a frame");
                    }
                    Err(err) => tracing::warn!(error = %err, "an unreadable frame from the platform"),
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break Ended::Dropped,
                Some(Ok(_)) => {}
            },
            Some(frame) = out_rx.recv() => {
                let mut sent = Ok(());
                for frame in coalesced(frame, &mut out_rx) {
                    let text = serde_json::to_string(&frame).expect("frames serialise");
                    sent = sink.feed(Message::Text(text.into())).await;
                    if sent.is_err() {
                        break;
                    }
                }
                // The connection is gone: its leases are expired on the
                // platform's side, so what was not sent is run again.
                if sent.and(sink.flush().await).is_err() {
                    break Ended::Dropped;
                }
            }
            Some((id, lease)) = done_rx.recv() => {
                if running.get(&id).is_some_and(|(held, _)| *held == lease) {
                    running.remove(&id);
                }
                if draining_until.is_some() && running.is_empty() {
                    break Ended::Stopped;
                }
            }
            _ = heartbeat.tick() => {
                let running = u32::try_from(running.len()).unwrap_or(u32::MAX);
                let text = serde_json::to_string(&FromNode::Heartbeat { running }).expect("frames serialise");
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break Ended::Dropped;
                }
            }
            _ = stop.changed(), if draining_until.is_none() => {
                tracing::info!(tasks = running.len(), "stopping: draining");
                draining_until = Some(tokio::time::Instant::now() + options.drain);
                let text = serde_json::to_string(&FromNode::Draining).expect("frames serialise");
                if sink.send(Message::Text(text.into())).await.is_err() {
                    break Ended::Stopped;
                }
                if running.is_empty() {
                    break Ended::Stopped;
                }
            }
            () = drain_deadline => {
                // Still running after the drain period: handed back unrun.
                for (id, (lease, handle)) in running.drain() {
                    handle.abort();
                    let text = serde_json::to_string(&FromNode::Release { id, lease }).expect("frames serialise");
                    let _ = sink.send(Message::Text(text.into())).await;
                }
                break Ended::Stopped;
            }
        }
    };
    // Whatever is still queued (a last result) goes out before closing.
    while let Ok(frame) = out_rx.try_recv() {
        let text = serde_json::to_string(&frame).expect("frames serialise");
        let _ = sink.send(Message::Text(text.into())).await;
    }
    for (_, (_, handle)) in running.drain() {
        handle.abort();
    }
    let _ = sink.close().await;
    Ok(ended)
}

async fn run_task(
    backend: Backend,
    id: TaskId,
    lease: u64,
    input: meritree_core::compute::TaskInput,
    out: mpsc::Sender<FromNode>,
    done: mpsc::UnboundedSender<(TaskId, u64)>,
) {
    let _ = out
        .send(FromNode::Started {
            id: id.clone(),
            lease,
        })
        .await;
    let deltas = out.clone();
    let delta_id = id.clone();
    let outcome = backend
        .run(&input, |text| {
            // Pieces are small and the queue deep; a full queue drops a
            // piece of the live view, never the result.
            let _ = deltas.try_send(FromNode::Delta {
                id: delta_id.clone(),
                lease,
                text,
            });
        })
        .await;
    let frame = match outcome {
        Ok(output) => FromNode::Completed {
            id: id.clone(),
            lease,
            output,
        },
        Err(reason) => {
            tracing::warn!(task = %id, %reason, "task failed on the backend");
            FromNode::Failed {
                id: id.clone(),
                lease,
                reason,
            }
        }
    };
    let _ = out.send(frame).await;
    tracing::info!(task = %id, "task done");
    let _ = done.send((id, lease));
}

/// `first` and whatever else is already queued, with each task's pieces
/// that queued one after another joined into one: a backend streaming a
/// token at a time to several tasks would otherwise send a frame per token
/// and spend the platform's frame budget for the node.
fn coalesced(first: FromNode, queue: &mut mpsc::Receiver<FromNode>) -> Vec<FromNode> {
    let mut frames = vec![first];
    while frames.len() < COALESCE_MAX_FRAMES {
        let Ok(next) = queue.try_recv() else { break };
        if let FromNode::Delta { id, lease, text } = &next {
            // The task's last frame so far, if a piece with room for this one.
            let last = frames.iter_mut().rev().find(|frame| match frame {
                FromNode::Delta { id: other, .. }
                | FromNode::Started { id: other, .. }
                | FromNode::Completed { id: other, .. }
                | FromNode::Failed { id: other, .. }
                | FromNode::Release { id: other, .. } => other == id,
                _ => false,
            });
            if let Some(FromNode::Delta {
                lease: held,
                text: joined,
                ..
            }) = last
            {
                if held == lease && joined.chars().count() + text.chars().count() <= MAX_DELTA_CHARS
                {
                    joined.push_str(text);
                    continue;
                }
            }
        }
        frames.push(next);
    }
    frames
}

/// How many queued frames are gathered into one write.
const COALESCE_MAX_FRAMES: usize = 256;

/// Up to a quarter more, so nodes dropped together do not return together.
fn jitter(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(id: &str, lease: u64, text: &str) -> FromNode {
        FromNode::Delta {
            id: id.into(),
            lease,
            text: text.into(),
        }
    }

    fn queued(frames: Vec<FromNode>) -> Vec<FromNode> {
        let (tx, mut rx) = mpsc::channel(64);
        let mut frames = frames.into_iter();
        let first = frames.next().unwrap();
        for frame in frames {
            tx.try_send(frame).unwrap();
        }
        coalesced(first, &mut rx)
    }

    fn texts(frames: &[FromNode]) -> Vec<String> {
        frames
            .iter()
            .map(|frame| serde_json::to_string(frame).unwrap())
            .collect()
    }

    #[test]
    fn each_tasks_queued_pieces_go_out_as_one_in_order() {
        let sent = queued(vec![
            FromNode::Started {
                id: "a".into(),
                lease: 1,
            },
            delta("a", 1, "Four"),
            delta("b", 3, "We"),
            delta("a", 1, " score"),
            delta("b", 3, " hold"),
            delta("a", 1, " and"),
        ]);
        assert_eq!(
            texts(&sent),
            texts(&[
                FromNode::Started {
                    id: "a".into(),
                    lease: 1
                },
                delta("a", 1, "Four score and"),
                delta("b", 3, "We hold"),
            ])
        );
    }

    #[test]
    fn a_piece_after_its_tasks_result_or_under_another_lease_stays_apart() {
        let done = FromNode::Completed {
            id: "a".into(),
            lease: 1,
            output: meritree_core::compute::TaskOutput::Chat {
                text: "Hi".into(),
                input_tokens: 1,
                output_tokens: 1,
            },
        };
        let sent = queued(vec![delta("a", 1, "H"), done, delta("a", 2, "i")]);
        assert_eq!(sent.len(), 3);
        let sent = queued(vec![delta("a", 1, "H"), delta("a", 2, "i")]);
        assert_eq!(sent.len(), 2);
    }

    #[test]
    fn joined_pieces_stay_within_a_frames_limit() {
        let big = "x".repeat(MAX_DELTA_CHARS - 1);
        let sent = queued(vec![delta("a", 1, &big), delta("a", 1, "yy")]);
        assert_eq!(sent.len(), 2);
    }
}
