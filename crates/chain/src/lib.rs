//! Meritree's access to an EVM chain: one JSON-RPC client for the
//! configured chain, and the contract calls the platform makes through it.
//!
//! Chains are configuration: anything that speaks Ethereum JSON-RPC works
//! (anvil locally; Ethereum, BSC, Arbitrum, Base, Polygon in production).

pub mod anvil;
pub mod contracts;
pub mod deploy;
mod eip1271;
mod failover;
pub mod presets;
pub mod sender;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::transports::TransportError;

/// A read-only connection to the configured chain. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Chain {
    provider: DynProvider,
    chain_id: u64,
}

/// Why the chain could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    #[error("chain RPC URL is not valid: {0}")]
    InvalidUrl(String),
    #[error("the chain's RPC did not answer: {0}")]
    Rpc(#[from] TransportError),
    #[error("contract artifact is not usable: {0}")]
    InvalidArtifact(String),
    #[error("the call reverts: {0}")]
    Reverted(String),
    #[error("transaction failed: {0}")]
    Transaction(String),
    #[error("the RPC serves chain {actual}, but the configuration says {expected}")]
    WrongChain { expected: u64, actual: u64 },
}

impl Chain {
    /// Connects to `rpc_url` and checks that it serves chain `chain_id`, so a
    /// misconfigured RPC fails at start, not at the first claim.
    pub async fn connect(rpc_url: &str, chain_id: u64) -> Result<Self, ChainError> {
        Self::connect_any(&[rpc_url.to_owned()], chain_id).await
    }

    /// [`Chain::connect`] through several endpoints of the chain, the first
    /// preferred: when the one in use fails, the next answers.
    pub async fn connect_any(rpc_urls: &[String], chain_id: u64) -> Result<Self, ChainError> {
        let urls = rpc_urls
            .iter()
            .map(|url| {
                url.trim()
                    .parse::<alloy::transports::http::reqwest::Url>()
                    .map_err(|_| ChainError::InvalidUrl(url.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if urls.is_empty() {
            return Err(ChainError::InvalidUrl(String::new()));
        }
        // Every endpoint that answers must serve the configured chain: a
        // fallback on another chain would report nonces and receipts of
        // that chain once the first fails. One that cannot be reached now
        // is kept for later (and checked by the request below if it is all
        // there is).
        if urls.len() > 1 {
            for url in &urls {
                let alone = ProviderBuilder::new().connect_http(url.clone());
                if let Ok(actual) = alone.get_chain_id().await {
                    if actual != chain_id {
                        return Err(ChainError::WrongChain {
                            expected: chain_id,
                            actual,
                        });
                    }
                }
            }
        }
        let client = alloy::rpc::client::RpcClient::new(failover::Failover::new(&urls), false);
        let provider = ProviderBuilder::new().connect_client(client).erased();
        let actual = provider.get_chain_id().await?;
        if actual != chain_id {
            return Err(ChainError::WrongChain {
                expected: chain_id,
                actual,
            });
        }
        Ok(Self { provider, chain_id })
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }
}
