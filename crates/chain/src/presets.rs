//! Chains the platform knows by name: their EIP-155 ids and how many
//! blocks on top of a transaction make it final enough to count. Any other
//! EVM chain is configured by its id and confirmations directly.

/// A known chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub chain_id: u64,
    /// Blocks on top of a transaction's own before the outbox counts it
    /// final: about a minute or more of blocks, deeper where reorgs have
    /// been deeper.
    pub confirmations: u64,
}

pub const PRESETS: [Preset; 5] = [
    // 12 s blocks; 12 blocks is the usual wait short of finality.
    Preset {
        name: "ethereum",
        chain_id: 1,
        confirmations: 12,
    },
    // 3 s blocks (0.75 s since Maxwell); 15 blocks past a validator's turn.
    Preset {
        name: "bsc",
        chain_id: 56,
        confirmations: 15,
    },
    // 2 s blocks from one sequencer; L1 reorgs reach it rarely.
    Preset {
        name: "base",
        chain_id: 8453,
        confirmations: 10,
    },
    // 0.25 s blocks from one sequencer.
    Preset {
        name: "arbitrum",
        chain_id: 42161,
        confirmations: 20,
    },
    // 2 s blocks; it has seen reorgs dozens of blocks deep.
    Preset {
        name: "polygon",
        chain_id: 137,
        confirmations: 64,
    },
];

/// The preset called `name` (any case).
pub fn preset(name: &str) -> Option<Preset> {
    PRESETS
        .iter()
        .copied()
        .find(|p| p.name.eq_ignore_ascii_case(name.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_found_by_name_and_ids_are_distinct() {
        assert_eq!(preset("Base").map(|p| p.chain_id), Some(8453));
        assert_eq!(preset("solana"), None);
        let ids: std::collections::BTreeSet<u64> = PRESETS.iter().map(|p| p.chain_id).collect();
        assert_eq!(ids.len(), PRESETS.len());
        assert!(PRESETS.iter().all(|p| p.confirmations >= 10));
    }
}
