//! Bindings to the project's contracts, generated from the committed
//! artifacts (`contracts/artifacts`, checked against the sources in CI), so
//! the Rust calls and the deployed code cannot drift apart.

use alloy::sol;
use alloy::sol_types::SolValue;

use crate::deploy::Artifact;

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    // The generated `deploy` takes the constructor's seven arguments.
    #[allow(clippy::too_many_arguments)]
    RewardDistributor,
    "../../contracts/artifacts/RewardDistributor.json"
);

sol!(
    #[sol(rpc)]
    #[derive(Debug)]
    RewardDistributorV1,
    "../../contracts/artifacts/RewardDistributorV1.json"
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

/// Version 1 of the distributor (no root timelock): still served, and
/// deployed by tests that prove it keeps working.
pub fn reward_distributor_v1_artifact() -> Artifact {
    Artifact::from_json(include_str!(
        "../../../contracts/artifacts/RewardDistributorV1.json"
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

/// A node's answer that the call reverted (JSON-RPC code 3, or the
/// "execution reverted" message some nodes send with another code).
fn is_execution_revert(err: &alloy::transports::TransportError) -> bool {
    err.as_error_resp()
        .is_some_and(|resp| resp.code == 3 || resp.message.to_ascii_lowercase().contains("revert"))
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
/// admin, root updater, pauser and guardian, with no root timelock (the
/// platform's key on a local chain, where it holds every role anyway).
pub async fn deploy_reward_contracts(
    provider: &impl alloy::providers::Provider,
    platform: alloy::primitives::Address,
) -> Result<Deployed, crate::ChainError> {
    deploy_reward_contracts_with(provider, Roles::all(platform), RootPolicy::default()).await
}

/// Who holds each role of the reward contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    /// Grants and revokes roles; mints the token; sets the root timelock.
    /// Meant for a multisig or a timelock on a public chain.
    pub admin: alloy::primitives::Address,
    /// Proposes roots: the platform's own key.
    pub updater: alloy::primitives::Address,
    /// May pause claims (resuming needs the admin).
    pub pauser: alloy::primitives::Address,
    /// May revoke a proposed root before it becomes claimable.
    pub guardian: alloy::primitives::Address,
}

impl Roles {
    /// One key for everything: the embedded local chain.
    pub fn all(key: alloy::primitives::Address) -> Self {
        Self {
            admin: key,
            updater: key,
            pauser: key,
            guardian: key,
        }
    }
}

/// How new roots become claimable on a version 2 distributor.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RootPolicy {
    /// Seconds between a root's proposal and when it may be claimed
    /// (zero: at once); the contract allows at most 30 days.
    pub timelock_secs: u64,
    /// The distributor this one replaces: what it paid counts as claimed.
    pub legacy: Option<alloy::primitives::Address>,
}

/// Deploys the token (admin and minter: `roles.admin`) and the distributor
/// over it; `existing_token` reuses a token instead (moving to a new
/// distributor keeps the token members already hold).
pub async fn deploy_reward_contracts_with(
    provider: &impl alloy::providers::Provider,
    roles: Roles,
    policy: RootPolicy,
) -> Result<Deployed, crate::ChainError> {
    let token_args =
        ("Meritree Reward".to_owned(), "MRT".to_owned(), roles.admin).abi_encode_params();
    let token = crate::deploy::deploy(provider, &reward_token_artifact(), &token_args).await?;
    deploy_distributor(provider, token, roles, policy).await
}

/// Deploys a version 2 distributor paying out `token`.
pub async fn deploy_distributor(
    provider: &impl alloy::providers::Provider,
    token: alloy::primitives::Address,
    roles: Roles,
    policy: RootPolicy,
) -> Result<Deployed, crate::ChainError> {
    let args = (
        token,
        roles.admin,
        roles.updater,
        roles.pauser,
        roles.guardian,
        policy.timelock_secs,
        policy.legacy.unwrap_or_default(),
    )
        .abi_encode_params();
    let distributor =
        crate::deploy::deploy(provider, &reward_distributor_artifact(), &args).await?;
    let block = provider.get_block_number().await?;
    Ok(Deployed {
        token,
        distributor,
        block,
    })
}

/// Deploys a version 1 distributor (no timelock, no guardian) paying out
/// `token`: what platforms deployed before version 2.
pub async fn deploy_distributor_v1(
    provider: &impl alloy::providers::Provider,
    token: alloy::primitives::Address,
    roles: Roles,
) -> Result<Deployed, crate::ChainError> {
    let args = (token, roles.admin, roles.updater, roles.pauser).abi_encode_params();
    let distributor =
        crate::deploy::deploy(provider, &reward_distributor_v1_artifact(), &args).await?;
    let block = provider.get_block_number().await?;
    Ok(Deployed {
        token,
        distributor,
        block,
    })
}

/// The distributor's interface version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistributorVersion {
    /// `setRoot`: a root is claimable as soon as it is mined.
    V1,
    /// `proposeRoot` with an export hash, a timelock and a guardian.
    V2,
}

impl crate::Chain {
    /// Which distributor runs at `distributor`: version 2 answers `VERSION()`,
    /// version 1 has no such function and reverts.
    pub async fn distributor_version(
        &self,
        distributor: alloy::primitives::Address,
    ) -> Result<DistributorVersion, crate::ChainError> {
        let contract = RewardDistributor::new(distributor, self.provider());
        match contract.VERSION().call().await {
            Ok(version) if version == alloy::primitives::U256::from(2) => {
                Ok(DistributorVersion::V2)
            }
            Ok(other) => Err(crate::ChainError::Reverted(format!(
                "distributor {distributor} reports version {other}, which this platform does not know"
            ))),
            // Only an execution revert means "no such function": a rate
            // limit or any other error answer is not taken for version 1.
            Err(alloy::contract::Error::TransportError(err)) if !is_execution_revert(&err) => {
                Err(crate::ChainError::Rpc(err))
            }
            Err(_) => {
                let code = alloy::providers::Provider::get_code_at(self.provider(), distributor).await?;
                if code.is_empty() {
                    return Err(crate::ChainError::Reverted(format!(
                        "no contract at distributor address {distributor}"
                    )));
                }
                Ok(DistributorVersion::V1)
            }
        }
    }

    /// Seconds a version 2 distributor makes a new root wait.
    pub async fn root_timelock(
        &self,
        distributor: alloy::primitives::Address,
    ) -> Result<u64, crate::ChainError> {
        RewardDistributor::new(distributor, self.provider())
            .rootTimelock()
            .call()
            .await
            .map_err(contract_error)
    }

    /// Whether claims on the distributor (either version) are paused.
    pub async fn distributor_paused(
        &self,
        distributor: alloy::primitives::Address,
    ) -> Result<bool, crate::ChainError> {
        RewardDistributor::new(distributor, self.provider())
            .paused()
            .call()
            .await
            .map_err(contract_error)
    }

    /// The distributor a version 2 distributor replaced, if any.
    pub async fn replaced_distributor(
        &self,
        distributor: alloy::primitives::Address,
    ) -> Result<Option<alloy::primitives::Address>, crate::ChainError> {
        let legacy = RewardDistributor::new(distributor, self.provider())
            .LEGACY()
            .call()
            .await
            .map_err(contract_error)?;
        Ok((!legacy.is_zero()).then_some(legacy))
    }

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

/// A root as a version 2 distributor's `RootProposed` event announced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProposedRoot {
    pub root: alloy::primitives::B256,
    /// keccak256 of the round's tree export, byte for byte.
    pub export_hash: alloy::primitives::B256,
    /// When it may become claimable (Unix seconds, chain time).
    pub valid_at: u64,
}

impl crate::Chain {
    /// The last root proposed for `round` on a version 2 distributor, with
    /// its export hash (whether or not it was later revoked).
    pub async fn proposed_root(
        &self,
        distributor: alloy::primitives::Address,
        round: u64,
        from_block: u64,
    ) -> Result<Option<ProposedRoot>, crate::ChainError> {
        let contract = RewardDistributor::new(distributor, self.provider());
        let events = contract
            .RootProposed_filter()
            .topic1(alloy::primitives::U256::from(round))
            .from_block(from_block)
            .query()
            .await
            .map_err(contract_error)?;
        Ok(events.last().map(|(event, _)| ProposedRoot {
            root: event.root,
            export_hash: event.exportHash,
            valid_at: event.validAt,
        }))
    }
}
