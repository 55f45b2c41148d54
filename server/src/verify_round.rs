//! `meritree verify-round N`: anyone can check a round without trusting the
//! platform — the export's leaves must give its root, every proof must lead
//! to it, and it must be the root the distributor published for round N.
//! On a version 2 distributor the root may still be in its timelock, and the
//! export must be, byte for byte, the one whose hash was proposed with it.

use std::fmt;
use std::str::FromStr;

use alloy::primitives::{keccak256, Address, B256};
use alloy::providers::{Provider, ProviderBuilder};
use meritree_chain::contracts::{DistributorVersion, ProposedRoot};
use meritree_chain::Chain;
use meritree_core::rounds::RoundExport;

/// What a successful check found.
#[derive(Debug)]
pub struct Verified {
    pub round: u64,
    pub root: B256,
    pub leaves: usize,
    /// Version 2: the export hash matched, and when the root pays out.
    pub proposed: Option<ProposedRoot>,
    /// With an earlier export: the round it was, and how much the total grew.
    pub growth: Option<(i64, alloy::primitives::U256)>,
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "round {}: {} leaves give root {}, the root published on chain",
            self.round, self.leaves, self.root
        )?;
        if let Some((earlier, growth)) = &self.growth {
            write!(
                f,
                "; no total fell since round {earlier}, the sum grew by {growth}"
            )?;
        }
        if let Some(proposed) = &self.proposed {
            write!(
                f,
                "; the export's hash {} is the one proposed with it, claimable from {} (Unix time)",
                proposed.export_hash, proposed.valid_at
            )?;
        }
        Ok(())
    }
}

pub async fn run(
    round: u64,
    export: &str,
    rpc: &str,
    distributor: &str,
    from_block: u64,
    previous_export: Option<&str>,
) -> Result<Verified, Box<dyn std::error::Error>> {
    let (export, bytes) = load(export).await?;
    let growth = match previous_export {
        Some(source) => {
            let (earlier, _) = load(source).await?;
            if earlier.round >= export.round {
                return Err(format!(
                    "--previous-export is of round {}, not one before {}",
                    earlier.round, export.round
                )
                .into());
            }
            Some((earlier.round, export.grows_from(&earlier)?))
        }
        None => None,
    };
    let distributor = Address::from_str(distributor.trim())
        .map_err(|_| format!("not an address: {distributor:?}"))?;
    let provider = ProviderBuilder::new()
        .connect_http(rpc.parse().map_err(|_| format!("not a URL: {rpc:?}"))?);
    let chain_id = provider.get_chain_id().await?;
    let chain = Chain::connect(rpc, chain_id).await?;
    let verified = verify(round, &export, &bytes, &chain, distributor, from_block).await?;
    Ok(Verified { growth, ..verified })
}

/// The check itself, on an export already loaded (`bytes`: as fetched).
pub async fn verify(
    round: u64,
    export: &RoundExport,
    bytes: &[u8],
    chain: &Chain,
    distributor: Address,
    from_block: u64,
) -> Result<Verified, Box<dyn std::error::Error>> {
    if u64::try_from(export.round).ok() != Some(round) {
        return Err(format!("the export is of round {}, not {round}", export.round).into());
    }
    let root = export.verify()?;
    let (published, proposed) = match chain.distributor_version(distributor).await? {
        DistributorVersion::V1 => (
            chain.published_root(distributor, round, from_block).await?,
            None,
        ),
        DistributorVersion::V2 => {
            let proposed = chain.proposed_root(distributor, round, from_block).await?;
            if let Some(proposed) = &proposed {
                let hash = keccak256(bytes);
                if hash != proposed.export_hash {
                    return Err(format!(
                        "round {round}: the export's hash is {hash}, the one proposed with the root {}",
                        proposed.export_hash
                    )
                    .into());
                }
            }
            (proposed.map(|p| p.root), proposed)
        }
    };
    let published =
        published.ok_or_else(|| format!("the distributor published no root for round {round}"))?;
    if published != root {
        return Err(
            format!("round {round}: the export's root is {root}, the chain's {published}").into(),
        );
    }
    Ok(Verified {
        round,
        root,
        leaves: export.leaves.len(),
        proposed,
        growth: None,
    })
}

async fn load(source: &str) -> Result<(RoundExport, Vec<u8>), Box<dyn std::error::Error>> {
    let bytes = if source.starts_with("http://") || source.starts_with("https://") {
        let response = reqwest::get(source).await?;
        if !response.status().is_success() {
            return Err(format!("{source}: HTTP {}", response.status()).into());
        }
        response.bytes().await?.to_vec()
    } else {
        std::fs::read(source).map_err(|err| format!("{source}: {err}"))?
    };
    let export = serde_json::from_slice(&bytes)
        .map_err(|err| format!("{source}: not a round export: {err}"))?;
    Ok((export, bytes))
}
