//! What a signed-in member sees of themselves in one call: the account,
//! points and nodes (`GET /api/v1/user/profile`), and what their AI use
//! costs (`GET /api/v1/user/billing`).

use serde::{Deserialize, Serialize};

use crate::accounts::AccountView;
use crate::ai::AiSpending;
use crate::compute::NodeView;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    pub account: AccountView,
    /// Points held now.
    pub balance: i64,
    /// The compute nodes the account runs (operators).
    pub nodes: Vec<NodeView>,
}

/// The account's tasks on the compute network, by outcome.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpending {
    pub submitted: u64,
    pub completed: u64,
    pub failed: u64,
    pub cancelled: u64,
    /// Tokens its completed tasks used.
    pub tokens: u64,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Billing {
    /// This month's AI usage and every budget.
    pub ai: AiSpending,
    pub tasks: TaskSpending,
}
