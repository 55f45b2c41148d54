//! `meritree chain deploy`: the contracts on any EVM chain, and the
//! configuration that serves them.

use std::str::FromStr;

use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use meritree_chain::contracts::{deploy_node_staking, deploy_reward_contracts_with, Roles};
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
        unstake_cooldown_secs,
    } = command;
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
    let roles = Roles {
        admin,
        updater: key.address(),
        pauser,
    };
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key.clone()))
        .connect_provider(chain.provider().clone());
    tracing::info!(chain_id, ?roles, "deploying the reward contracts");
    let deployed = deploy_reward_contracts_with(&provider, roles).await?;
    let staking =
        deploy_node_staking(&provider, deployed.token, unstake_cooldown_secs, admin).await?;
    println!(
        "\
# Deployed by `meritree chain deploy` on chain {chain_id}.
# The distributor pays claims from its own token balance: fund it (the
# token's admin, {admin:#x}, may mint) before the first round is published.
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
deployed_block = {block}

[compute]
staking_address = \"{staking:#x}\"",
        token = deployed.token,
        distributor = deployed.distributor,
        block = deployed.block,
    );
    Ok(())
}

fn parse_address(flag: &str, text: Option<&str>) -> Result<Option<Address>, String> {
    text.map(|text| {
        Address::from_str(text.trim()).map_err(|_| format!("{flag} is not an address: {text}"))
    })
    .transpose()
}
