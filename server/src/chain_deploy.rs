//! `meritree chain deploy`: the contracts on any EVM chain, and the
//! configuration that serves them.

use std::str::FromStr;

use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use meritree_chain::contracts::{
    deploy_distributor, deploy_node_staking, deploy_reward_contracts_with, DistributorVersion,
    RewardDistributorV1, Roles, RootPolicy,
};
use meritree_chain::Chain;

use crate::cli::ChainCommand;
use crate::configuration::Settings;

pub async fn run(
    settings: &Settings,
    command: ChainCommand,
) -> Result<(), Box<dyn std::error::Error>> {
    let ChainCommand::Deploy {
        rpc,
        chain_id,
        admin,
        pauser,
        guardian,
        root_timelock_secs,
        token,
        replaces,
        replaces_deployed_block,
        unstake_cooldown_secs,
    } = command;
    if root_timelock_secs > MAX_ROOT_TIMELOCK_SECS {
        return Err(
            format!("--root-timelock-secs is at most {MAX_ROOT_TIMELOCK_SECS} (30 days)").into(),
        );
    }
    let key_env = &settings.chain.signer_key_env;
    let key = std::env::var(key_env).map_err(|_| {
        format!("set {key_env} to the deploying key (hex); it becomes the root updater")
    })?;
    let key = PrivateKeySigner::from_str(key.trim())
        .map_err(|_| format!("{key_env} is not a private key"))?;
    let chain_id = match chain_id {
        Some(id) => id,
        None => {
            let url = rpc.parse().map_err(|_| format!("not a URL: {rpc}"))?;
            ProviderBuilder::new()
                .connect_http(url)
                .get_chain_id()
                .await?
        }
    };
    let chain = Chain::connect(&rpc, chain_id).await?;
    let admin = parse_address("--admin", admin.as_deref())?.unwrap_or(key.address());
    let pauser = parse_address("--pauser", pauser.as_deref())?.unwrap_or(admin);
    let guardian = parse_address("--guardian", guardian.as_deref())?.unwrap_or(admin);
    let token = parse_address("--token", token.as_deref())?;
    let legacy = parse_address("--replaces", replaces.as_deref())?;
    let roles = Roles {
        admin,
        updater: key.address(),
        pauser,
        guardian,
    };
    let policy = RootPolicy {
        timelock_secs: root_timelock_secs,
        legacy,
    };
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key.clone()))
        .connect_provider(chain.provider().clone());
    tracing::info!(chain_id, ?roles, ?policy, "deploying the reward contracts");
    let (deployed, staking) = match token {
        Some(token) => {
            if let Some(legacy) = legacy {
                check_replaced(&chain, legacy, token).await?;
            }
            (
                deploy_distributor(&provider, token, roles, policy).await?,
                None,
            )
        }
        None => {
            let deployed = deploy_reward_contracts_with(&provider, roles, policy).await?;
            let staking =
                deploy_node_staking(&provider, deployed.token, unstake_cooldown_secs, admin)
                    .await?;
            (deployed, Some(staking))
        }
    };
    println!(
        "\
# Deployed by `meritree chain deploy` on chain {chain_id}.
# The distributor pays claims from its own token balance: fund it (the
# token's admin, {admin:#x}, may mint) before the first round is published.
# New roots pay out {root_timelock_secs} s after they are proposed; until then
# the guardian, {guardian:#x}, may revoke them.
# With an --admin other than the deploying key, the admin grants the
# staking contract's SLASHER_ROLE to the platform's key if slashes reviewed
# by the platform's admins are to be sent.
[chain]
embedded = false
rpc_url = \"{rpc}\"
chain_id = {chain_id}
signer_key_env = \"{key_env}\"
token_address = \"{token:#x}\"
distributor_address = \"{distributor:#x}\"
deployed_block = {block}",
        token = deployed.token,
        distributor = deployed.distributor,
        block = deployed.block,
    );
    match staking {
        Some(staking) => println!("\n[compute]\nstaking_address = \"{staking:#x}\""),
        None => println!(
            "legacy_deployed_block = {}",
            replaces_deployed_block.unwrap_or_default()
        ),
    }
    Ok(())
}

/// The distributor being replaced must be a paused version 1 distributor
/// of the same token: the new one reads what it paid, for good (`LEGACY`
/// cannot be changed), and pays nothing while it is not paused.
async fn check_replaced(
    chain: &Chain,
    legacy: Address,
    token: Address,
) -> Result<(), Box<dyn std::error::Error>> {
    if chain.distributor_version(legacy).await? != DistributorVersion::V1 {
        return Err(format!("--replaces {legacy:#x} is not a version 1 distributor").into());
    }
    let old = RewardDistributorV1::new(legacy, chain.provider());
    let (old_token, paused) = (old.TOKEN().call().await, old.paused().call().await);
    match (old_token, paused) {
        (Ok(old_token), _) if old_token != token => Err(format!(
            "--replaces {legacy:#x} pays out {old_token:#x}, not --token {token:#x}"
        )
        .into()),
        (Ok(_), Ok(true)) => Ok(()),
        (Ok(_), Ok(false)) => Err(format!(
            "pause {legacy:#x} first (its pauser calls pause()): both distributors must never pay"
        )
        .into()),
        _ => Err(format!("--replaces {legacy:#x} is not a reward distributor").into()),
    }
}

/// The distributor contract's own ceiling (`MAX_ROOT_TIMELOCK`).
const MAX_ROOT_TIMELOCK_SECS: u64 = 30 * 24 * 3600;

fn parse_address(flag: &str, text: Option<&str>) -> Result<Option<Address>, String> {
    text.map(|text| {
        Address::from_str(text.trim()).map_err(|_| format!("{flag} is not an address: {text}"))
    })
    .transpose()
}
