//! `meritree verify-round N`: anyone can check a round without trusting the
//! platform — the export's leaves must give its root, every proof must lead
//! to it, and it must be the root the distributor published for round N.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::{Address, B256};
use alloy::providers::{Provider, ProviderBuilder};
use meritree_chain::Chain;
use meritree_core::rounds::RoundExport;

/// What a successful check found.
#[derive(Debug)]
pub struct Verified {
    pub round: u64,
    pub root: B256,
    pub leaves: usize,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "round {}: {} leaves give root {}, the root published on chain",
            self.round, self.leaves, self.root
        )
    }
}

pub async fn run(
    round: u64,
    export: &str,
    rpc: &str,
    distributor: &str,
    from_block: u64,
) -> Result<Verified, Box<dyn std::error::Error>> {
    let export = load(export).await?;
    let distributor = Address::from_str(distributor.trim())
        .map_err(|_| format!("not an address: {distributor:?}"))?;
    let provider = ProviderBuilder::new()
        .connect_http(rpc.parse().map_err(|_| format!("not a URL: {rpc:?}"))?);
    let chain_id = provider.get_chain_id().await?;
    let chain = Chain::connect(rpc, chain_id).await?;
    verify(round, &export, &chain, distributor, from_block).await
}

/// The check itself, on an export already loaded.
pub async fn verify(
    round: u64,
    export: &RoundExport,
    chain: &Chain,
    distributor: Address,
    from_block: u64,
) -> Result<Verified, Box<dyn std::error::Error>> {
    if u64::try_from(export.round).ok() != Some(round) {
        return Err(format!("the export is of round {}, not {round}", export.round).into());
    }
    let root = export.verify()?;
    let published = chain
        .published_root(distributor, round, from_block)
        .await?
        .ok_or_else(|| format!("the distributor published no root for round {round}"))?;
    if published != root {
        return Err(
            format!("round {round}: the export's root is {root}, the chain's {published}").into(),
        );
    }
    Ok(Verified {
        round,
        root,
        leaves: export.leaves.len(),
    })
}

async fn load(source: &str) -> Result<RoundExport, Box<dyn std::error::Error>> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        let response = reqwest::get(source).await?;
        if !response.status().is_success() {
            return Err(format!("{source}: HTTP {}", response.status()).into());
        }
        response.text().await?
    } else {
        std::fs::read_to_string(source).map_err(|err| format!("{source}: {err}"))?
    };
    Ok(
        serde_json::from_str(&text)
            .map_err(|err| format!("{source}: not a round export: {err}"))?,
    )
}
