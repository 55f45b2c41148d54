//! Bindings to the project's contracts, generated from the committed
//! artifacts (`contracts/artifacts`, checked against the sources in CI), so
//! the Rust calls and the deployed code cannot drift apart.

use alloy::sol;

use crate::deploy::Artifact;

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    RewardDistributor,
    "../../contracts/artifacts/RewardDistributor.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    RewardToken,
    "../../contracts/artifacts/RewardToken.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    NodeStaking,
    "../../contracts/artifacts/NodeStaking.json"
);

/// The artifacts the embedded chain deploys.
pub fn reward_distributor_artifact() -> Artifact {
    Artifact::from_json(include_str!(
        "../../../contracts/artifacts/RewardDistributor.json"
    ))
    .expect("the committed artifact parses")
}

pub fn reward_token_artifact() -> Artifact {
    Artifact::from_json(include_str!(
        "../../../contracts/artifacts/RewardToken.json"
    ))
    .expect("the committed artifact parses")
}

pub fn node_staking_artifact() -> Artifact {
    Artifact::from_json(include_str!(
        "../../../contracts/artifacts/NodeStaking.json"
    ))
    .expect("the committed artifact parses")
}

/// Deploys the node staking contract over `token` with an unstaking
/// cooldown of `cooldown_secs`; `admin` holds its admin and slasher roles.
pub async fn deploy_node_staking(
    provider: &impl alloy::providers::Provider,
    token: alloy::primitives::Address,
    cooldown_secs: u64,
    admin: alloy::primitives::Address,
) -> Result<alloy::primitives::Address, crate::ChainError> {
    use alloy::sol_types::SolValue;

    let args = (token, cooldown_secs, admin).abi_encode_params();
    crate::deploy::deploy(provider, &node_staking_artifact(), &args).await
}

impl crate::Chain {
    /// An operator's active stake (what counts for running nodes).
    pub async fn stake_of(
        &self,
        staking: alloy::primitives::Address,
        operator: alloy::primitives::Address,
    ) -> Result<alloy::primitives::U256, crate::ChainError> {
        let contract = NodeStaking::new(staking, self.provider());
        contract
            .stakeOf(operator)
            .call()
            .await
            .map_err(contract_error)
    }
}

impl crate::Chain {
    /// What a slash of `operator` can take: the active stake and what is
    /// waiting out its unstaking cooldown.
    pub async fn slashable(
        &self,
        staking: alloy::primitives::Address,
        operator: alloy::primitives::Address,
    ) -> Result<alloy::primitives::U256, crate::ChainError> {
        let contract = NodeStaking::new(staking, self.provider());
        let pending = contract
            .pendingOf(operator)
            .call()
            .await
            .map_err(contract_error)?;
        let active = self.stake_of(staking, operator).await?;
        Ok(active.saturating_add(pending.amount))
    }
}

/// The call that slashes `amount` of `operator`'s stake, with `reason` in
/// the contract's `Slashed` event.
pub fn slash_calldata(
    operator: alloy::primitives::Address,
    amount: alloy::primitives::U256,
    reason: &str,
) -> alloy::primitives::Bytes {
    use alloy::sol_types::SolCall;

    NodeStaking::slashCall {
        operator,
        amount,
        reason: reason.to_owned(),
    }
    .abi_encode()
    .into()
}

fn contract_error(err: alloy::contract::Error) -> crate::ChainError {
    match err {
        alloy::contract::Error::TransportError(err) => crate::ChainError::Rpc(err),
        other => crate::ChainError::Reverted(other.to_string()),
    }
}

/// Where [`deploy_reward_contracts`] put the contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployed {
    pub token: alloy::primitives::Address,
    pub distributor: alloy::primitives::Address,
    pub block: u64,
}

/// Deploys the development reward token and the distributor from the
/// provider's key, which becomes the token's minter and the distributor's
/// admin, root updater and pauser (the platform's key on a local chain).
pub async fn deploy_reward_contracts(
    provider: &impl alloy::providers::Provider,
    platform: alloy::primitives::Address,
) -> Result<Deployed, crate::ChainError> {
    deploy_reward_contracts_with(provider, Roles::all(platform)).await
}

/// Who holds each role of the reward contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Grants and revokes roles; mints the token. Meant for a multisig or
    /// a timelock on a public chain.
    pub admin: alloy::primitives::Address,
    /// Publishes roots: the platform's own key.
    pub updater: alloy::primitives::Address,
    /// May pause claims (and unpause them).
    pub pauser: alloy::primitives::Address,
}

impl Roles {
    /// One key for everything: the embedded local chain.
    pub fn all(key: alloy::primitives::Address) -> Self {
        Self {
            admin: key,
            updater: key,
            pauser: key,
        }
    }
}

/// The token (admin and minter: `roles.admin`) and the distributor over it.
pub async fn deploy_reward_contracts_with(
    provider: &impl alloy::providers::Provider,
    roles: Roles,
) -> Result<Deployed, crate::ChainError> {
    use alloy::sol_types::SolValue;

    let token_args =
        ("Meritree Reward".to_owned(), "MRT".to_owned(), roles.admin).abi_encode_params();
    let token = crate::deploy::deploy(provider, &reward_token_artifact(), &token_args).await?;
    let distributor_args = (token, roles.admin, roles.updater, roles.pauser).abi_encode_params();
    let distributor =
        crate::deploy::deploy(provider, &reward_distributor_artifact(), &distributor_args).await?;
    let block = provider.get_block_number().await?;
    Ok(Deployed {
        token,
        distributor,
        block,
    })
}

impl crate::Chain {
    /// The root the distributor published for `round` (from its
    /// `RootUpdated` events: the contract itself keeps only the last two).
    pub async fn published_root(
        &self,
        distributor: alloy::primitives::Address,
        round: u64,
        from_block: u64,
    ) -> Result<Option<alloy::primitives::B256>, crate::ChainError> {
        let contract = RewardDistributor::new(distributor, self.provider());
        let events = contract
            .RootUpdated_filter()
            .topic1(alloy::primitives::U256::from(round))
            .from_block(from_block)
            .query()
            .await
            .map_err(contract_error)?;
        Ok(events.last().map(|(event, _)| event.root))
    }
}
