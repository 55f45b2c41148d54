//! The chain side of startup: the embedded local chain (anvil, with the
//! contracts deployed on first start) or a configured chain, and the
//! platform's key and contracts on it.

use std::str::FromStr;
use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::primitives::Address;
use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;
use meritree_chain::anvil::{self, Anvil, AnvilOptions};
use meritree_chain::contracts::{deploy_node_staking, deploy_reward_contracts, DistributorVersion};
use meritree_chain::sender::Sender;
use meritree_chain::Chain;
use meritree_platform::chain::Settlement;
use meritree_store::{chain_txs, Database};

use crate::configuration::Settings;
use crate::startup::StartupError;

/// What startup hands the platform (and keeps running).
#[derive(Default)]
pub struct ChainParts {
    pub chain: Option<Chain>,
    pub settlement: Option<Settlement>,
    /// The embedded chain's process, stopped with the server.
    pub anvil: Option<Anvil>,
    /// The `NodeStaking` contract: deployed on the embedded chain, or
    /// `compute.staking_address` on a configured one.
    pub staking: Option<Address>,
}

pub async fn start(settings: &Settings, db: &Database) -> Result<ChainParts, StartupError> {
    let chain_settings = &settings.chain;
    let urls = chain_settings.rpc_urls();
    match urls.first() {
        None if chain_settings.embedded => start_embedded(settings, db).await,
        None => Ok(ChainParts::default()),
        Some(_) => {
            let chain = Chain::connect_any(&urls, chain_settings.chain_id).await?;
            let settlement = configured_settlement(settings, &chain).await?;
            if settlement.is_none() {
                tracing::warn!(
                    "chain configured without a key or contract addresses: rounds settle but are not published"
                );
            }
            Ok(ChainParts {
                chain: Some(chain),
                settlement,
                anvil: None,
                staking: settings.compute.staking_address,
            })
        }
    }
}

async fn start_embedded(settings: &Settings, db: &Database) -> Result<ChainParts, StartupError> {
    if settings.chain.chain_id != anvil::CHAIN_ID {
        return Err(StartupError::Config(format!(
            "the embedded chain is anvil's {}; chain.chain_id is {}",
            anvil::CHAIN_ID,
            settings.chain.chain_id
        )));
    }
    let state_file = settings.storage.data_dir.join("anvil-state.json");
    std::fs::create_dir_all(&settings.storage.data_dir)
        .map_err(|err| StartupError::Config(format!("data directory: {err}")))?;
    let anvil = Anvil::start(&AnvilOptions {
        state_file: Some(state_file),
        ..AnvilOptions::new(settings.chain.anvil_bin.clone())
    })
    .await
    .map_err(|err| StartupError::Config(err.to_string()))?;
    let chain = Chain::connect(anvil.url(), anvil::CHAIN_ID).await?;
    let key = PrivateKeySigner::from_str(anvil::DEV_KEY_0).expect("anvil's key parses");
    let (token, distributor, from_block) = embedded_contracts(&chain, &key, db).await?;
    let staking = embedded_staking(&chain, &key, db, token, settings).await?;
    tracing::info!(%token, %distributor, %staking, "reward contracts on the embedded chain");
    let version = chain.distributor_version(distributor).await?;
    let settlement = Settlement {
        sender: Sender::new(chain.clone(), key),
        distributor,
        version,
        token,
        confirmations: settings.chain.confirmations(),
        bump_after: Duration::from_secs(settings.chain.bump_after_secs),
        from_block,
        legacy: None,
        may_mint: true,
    };
    Ok(ChainParts {
        chain: Some(chain),
        settlement: Some(settlement),
        anvil: Some(anvil),
        staking: Some(staking),
    })
}

/// The node staking contract deployed on an earlier start, if the chain
/// still has it; otherwise deployed now over the reward token.
async fn embedded_staking(
    chain: &Chain,
    key: &PrivateKeySigner,
    db: &Database,
    token: Address,
    settings: &Settings,
) -> Result<Address, StartupError> {
    let chain_id = anvil::CHAIN_ID as i64;
    if let Some((address, _)) = chain_txs::contract(db, chain_id, "staking").await? {
        let address = parse_address(&address)?;
        let code = chain
            .provider()
            .get_code_at(address)
            .await
            .map_err(chain_error)?;
        if !code.is_empty() {
            return Ok(address);
        }
    }
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key.clone()))
        .connect_provider(chain.provider().clone());
    let staking = deploy_node_staking(
        &provider,
        token,
        settings.compute.unstake_cooldown_secs,
        key.address(),
    )
    .await?;
    let block = chain
        .provider()
        .get_block_number()
        .await
        .map_err(chain_error)?;
    chain_txs::save_contract(
        db,
        chain_id,
        "staking",
        &format!("{staking:#x}"),
        block as i64,
    )
    .await?;
    Ok(staking)
}

/// The contracts deployed on an earlier start, if the chain still has
/// them; otherwise deployed now.
async fn embedded_contracts(
    chain: &Chain,
    key: &PrivateKeySigner,
    db: &Database,
) -> Result<(Address, Address, u64), StartupError> {
    let chain_id = anvil::CHAIN_ID as i64;
    let token = chain_txs::contract(db, chain_id, "token").await?;
    let distributor = chain_txs::contract(db, chain_id, "distributor").await?;
    if let (Some((token, _)), Some((distributor, block))) = (token, distributor) {
        let token = parse_address(&token)?;
        let distributor = parse_address(&distributor)?;
        if !chain
            .provider()
            .get_code_at(distributor)
            .await
            .map_err(chain_error)?
            .is_empty()
        {
            return Ok((token, distributor, block as u64));
        }
        tracing::warn!("the embedded chain lost its state: deploying the contracts again");
    }
    let provider = ProviderBuilder::new()
        .wallet(EthereumWallet::from(key.clone()))
        .connect_provider(chain.provider().clone());
    let deployed = deploy_reward_contracts(&provider, key.address()).await?;
    let block = deployed.block as i64;
    chain_txs::save_contract(
        db,
        chain_id,
        "token",
        &format!("{:#x}", deployed.token),
        block,
    )
    .await?;
    chain_txs::save_contract(
        db,
        chain_id,
        "distributor",
        &format!("{:#x}", deployed.distributor),
        block,
    )
    .await?;
    Ok((deployed.token, deployed.distributor, deployed.block))
}

async fn configured_settlement(
    settings: &Settings,
    chain: &Chain,
) -> Result<Option<Settlement>, StartupError> {
    let chain_settings = &settings.chain;
    let Ok(key) = std::env::var(&chain_settings.signer_key_env) else {
        return Ok(None);
    };
    let (Some(distributor), Some(token)) = (
        chain_settings.distributor_address,
        chain_settings.token_address,
    ) else {
        return Ok(None);
    };
    let key = PrivateKeySigner::from_str(key.trim()).map_err(|_| {
        StartupError::Config(format!(
            "{} is not a private key",
            chain_settings.signer_key_env
        ))
    })?;
    let version = chain.distributor_version(distributor).await?;
    let legacy = match version {
        DistributorVersion::V1 => None,
        DistributorVersion::V2 => chain
            .replaced_distributor(distributor)
            .await?
            .map(|legacy| (legacy, chain_settings.legacy_deployed_block)),
    };
    tracing::info!(%distributor, ?version, ?legacy, "reward distributor");
    if version == DistributorVersion::V2 {
        let timelock = chain.root_timelock(distributor).await?;
        if timelock >= settings.rewards.round_secs {
            tracing::warn!(
                timelock,
                round_secs = settings.rewards.round_secs,
                "roots wait longer than a round lasts: each round waits for the one before, and they queue up"
            );
        }
    }
    Ok(Some(Settlement {
        sender: Sender::new(chain.clone(), key),
        distributor,
        version,
        token,
        confirmations: chain_settings.confirmations(),
        bump_after: Duration::from_secs(chain_settings.bump_after_secs),
        from_block: chain_settings.deployed_block,
        legacy,
        may_mint: false,
    }))
}

fn chain_error(err: alloy::transports::TransportError) -> StartupError {
    StartupError::Chain(err.into())
}

/// An address the platform stored when it deployed the contracts.
fn parse_address(text: &str) -> Result<Address, StartupError> {
    Address::from_str(text.trim()).map_err(|_| {
        StartupError::Config(format!(
            "stored contract address is not an address: {text:?}"
        ))
    })
}
