//! The compute network for the pages: the same services as
//! `/api/v1/network/…`, `/api/v1/nodes/…` and `/api/v1/tasks/…`.

use leptos::prelude::*;
use meritree_core::compute::{NetworkStats, NodeView, NodesStats, TaskView};

use super::error::AppError;

/// `POST /api/compute/network`: the network's figures (public).
#[server(endpoint = "compute/network")]
pub async fn network_figures() -> Result<NetworkStats, AppError> {
    Ok(super::door::platform()?.compute().network_stats().await?)
}

/// `POST /api/compute/nodes`: nodes by status and the online ones (public).
#[server(endpoint = "compute/nodes")]
pub async fn online_nodes() -> Result<NodesStats, AppError> {
    Ok(super::door::platform()?.compute().nodes_stats().await?)
}

/// `POST /api/compute/my-nodes`: the signed-in operator's nodes.
#[server(endpoint = "compute/my-nodes")]
pub async fn my_nodes() -> Result<Vec<NodeView>, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::read()).await?;
    Ok(platform.compute().my_nodes(&me).await?)
}

/// `POST /api/compute/task`: one of the signed-in member's tasks.
#[server(endpoint = "compute/task")]
pub async fn task(id: String) -> Result<TaskView, AppError> {
    use meritree_platform::access::AuthCheck;
    let (platform, me) = super::door::authorize(AuthCheck::read()).await?;
    Ok(platform.compute().get(&me, &id.into()).await?)
}
