//! A member's own overview: the account, points and nodes in one read, and
//! what their AI use costs (requests through the gateway and tasks on the
//! compute network).

use meritree_core::profile::{Billing, TaskSpending, UserProfile};
use meritree_core::ErrorCode;

use crate::error::PublicError;
use crate::principal::Principal;

service!(
    /// The signed-in member's overview.
    Profiles,
    profiles
);

/// Whichever service could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Account(#[from] crate::accounts::AuthError),
    #[error(transparent)]
    Points(#[from] crate::points::PointsError),
    #[error(transparent)]
    Compute(#[from] crate::compute::ComputeError),
    #[error(transparent)]
    Ai(#[from] crate::ai::AiError),
    #[error(transparent)]
    Store(#[from] meritree_store::StoreError),
}

impl PublicError for ProfileError {
    fn code(&self) -> ErrorCode {
        match self {
            ProfileError::Account(err) => err.code(),
            ProfileError::Points(err) => err.code(),
            ProfileError::Compute(err) => err.code(),
            ProfileError::Ai(err) => err.code(),
            ProfileError::Store(err) => err.code(),
        }
    }
}

impl Profiles<'_> {
    pub async fn profile(&self, me: &Principal) -> Result<UserProfile, ProfileError> {
        Ok(UserProfile {
            account: self.accounts().account(&me.account_id).await?,
            balance: self.points().balance(&me.account_id).await?.balance,
            nodes: self.compute().my_nodes(me).await?,
        })
    }

    pub async fn billing(&self, me: &Principal) -> Result<Billing, ProfileError> {
        let mut tasks = TaskSpending::default();
        for (status, count, tokens) in
            meritree_store::compute::task_totals(self.db(), &me.account_id).await?
        {
            let count = count.unsigned_abs();
            tasks.submitted += count;
            match status.as_str() {
                "completed" => {
                    tasks.completed += count;
                    tasks.tokens += tokens.unsigned_abs();
                }
                "failed" => tasks.failed += count,
                "cancelled" => tasks.cancelled += count,
                _ => {}
            }
        }
        Ok(Billing {
            ai: self.ai().spending(&me.account_id).await?,
            tasks,
        })
    }
}
