//! Stake on chain: an operator's nodes take tasks only while the
//! operator's bound wallet holds at least the network's minimum in the
//! `NodeStaking` contract. Without a minimum (the embedded default) staking
//! is off.

use alloy::primitives::{Address, U256};
use meritree_chain::Chain;
use meritree_core::accounts::AccountId;
use meritree_store::accounts;

use super::{Compute, ComputeError};

#[derive(Debug, Clone)]
pub struct Staking {
    pub chain: Chain,
    /// The `NodeStaking` contract.
    pub contract: Address,
    /// Base units of the reward token, at least.
    pub min_stake: U256,
}

impl Staking {
    /// Refuses an operator with no wallet, or whose active stake is below
    /// the minimum.
    pub(crate) async fn check(
        &self,
        compute: &Compute<'_>,
        account: &AccountId,
    ) -> Result<(), ComputeError> {
        let wallet = accounts::find_by_id(compute.db(), account)
            .await?
            .and_then(|a| a.wallet_address)
            .and_then(|w| w.parse::<Address>().ok());
        let have = match wallet {
            None => U256::ZERO,
            Some(wallet) => self
                .chain
                .stake_of(self.contract, wallet)
                .await
                .map_err(|error| {
                    tracing::warn!(%error, "stake not read");
                    ComputeError::StakeUnknown
                })?,
        };
        if have < self.min_stake {
            return Err(ComputeError::StakeTooLow {
                have: have.to_string(),
                need: self.min_stake.to_string(),
            });
        }
        Ok(())
    }
}
