//! Merkle tree cost at settlement sizes, printed as numbers (run:
//! `cargo bench -p meritree-core --bench merkle`): building the tree (leaf
//! hashing, sorting, inner nodes) and then producing every proof, as a
//! round close does. Target: 1,000,000 leaves in under a second.

use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use meritree_core::merkle::MerkleTree;

fn entries(n: usize) -> Vec<(Address, U256)> {
    (0..n)
        .map(|i| {
            // Spread like real addresses: a hash, not a counter.
            let word = alloy_primitives::keccak256((i as u64).to_be_bytes());
            (
                Address::from_slice(&word[12..]),
                U256::from(i as u64 * 1_000_000_007),
            )
        })
        .collect()
}

fn best_of(runs: usize, mut f: impl FnMut() -> Duration) -> Duration {
    (0..runs).map(|_| f()).min().unwrap_or_default()
}

fn main() {
    for (n, runs) in [(1_000, 20), (100_000, 5), (1_000_000, 3)] {
        let entries = entries(n);
        let mut build = Duration::ZERO;
        let mut proofs = Duration::ZERO;
        let total = best_of(runs, || {
            let started = Instant::now();
            let tree = MerkleTree::build(&entries).unwrap();
            build = started.elapsed();
            let proving = Instant::now();
            let mut checksum = 0u8;
            tree.for_each_proof(|_, proof| checksum ^= proof.first().map_or(0, |p| p[0]));
            std::hint::black_box((tree.root(), checksum));
            proofs = proving.elapsed();
            started.elapsed()
        });
        println!(
            "merkle {n:>9} leaves: root + all proofs {total:>10.2?} (build {build:>10.2?}, proofs {proofs:>10.2?})"
        );
    }
}
