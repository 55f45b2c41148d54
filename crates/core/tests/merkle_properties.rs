//! Properties of the Merkle tree over arbitrary wallets and amounts, with
//! OpenZeppelin's `MerkleProof.verify` (a sorted-pair walk) as the judge.

use std::collections::HashMap;

use alloy_primitives::{Address, U256};
use meritree_core::merkle::{verify, MerkleError, MerkleTree};
use proptest::prelude::*;

/// Up to `max` entries with distinct addresses; amounts cover the whole
/// 256-bit range, zero and the maximum included.
fn entries(max: usize) -> impl Strategy<Value = Vec<(Address, U256)>> {
    let amount = prop_oneof![
        Just(U256::ZERO),
        Just(U256::MAX),
        any::<u64>().prop_map(U256::from),
        any::<[u8; 32]>().prop_map(U256::from_be_bytes),
    ];
    proptest::collection::hash_map(any::<[u8; 20]>().prop_map(Address::from), amount, 1..=max)
        .prop_map(|map: HashMap<Address, U256>| map.into_iter().collect())
}

proptest! {
    #[test]
    fn every_proof_verifies_its_own_leaf_only(entries in entries(70), other in any::<[u8; 20]>()) {
        let tree = MerkleTree::build(&entries).unwrap();
        let root = tree.root();
        let other = Address::from(other);
        for (i, (address, amount)) in entries.iter().enumerate() {
            let proof = tree.proof(i);
            prop_assert!(verify(&root, address, amount, &proof));
            prop_assert!(!verify(&root, address, &amount.wrapping_add(U256::from(1)), &proof));
            prop_assert!(!verify(&root, address, &amount.wrapping_sub(U256::from(1)), &proof));
            if other != *address {
                prop_assert!(!verify(&root, &other, amount, &proof));
            }
            // Another wallet's amount under this wallet's proof.
            let (next, next_amount) = entries[(i + 1) % entries.len()];
            if next != *address {
                prop_assert!(!verify(&root, &next, amount, &proof));
                prop_assert!(!verify(&root, address, &next_amount, &proof) || next_amount == *amount);
            }
        }
    }

    #[test]
    fn for_each_proof_matches_proof(entries in entries(150)) {
        let tree = MerkleTree::build(&entries).unwrap();
        let mut seen = vec![0u32; entries.len()];
        tree.for_each_proof(|entry, proof| {
            seen[entry] += 1;
            assert_eq!(proof, tree.proof(entry).as_slice(), "entry {entry}");
        });
        prop_assert!(seen.iter().all(|&n| n == 1));
    }

    #[test]
    fn the_tree_ignores_input_order(entries in entries(70), seed in any::<u64>()) {
        let tree = MerkleTree::build(&entries).unwrap();
        // A permutation from the seed: rotate, then reverse a part.
        let mut shuffled = entries.clone();
        let len = shuffled.len();
        shuffled.rotate_left(seed as usize % len);
        shuffled[..(seed >> 32) as usize % len + 1].reverse();
        let other = MerkleTree::build(&shuffled).unwrap();
        prop_assert_eq!(other.root(), tree.root());
        prop_assert_eq!(other.nodes(), tree.nodes());
        for (i, entry) in shuffled.iter().enumerate() {
            let j = entries.iter().position(|e| e == entry).unwrap();
            prop_assert_eq!(other.proof(i), tree.proof(j));
        }
    }

    #[test]
    fn a_repeated_address_is_refused(entries in entries(30), pick in any::<usize>(), amount in any::<u64>()) {
        let mut entries = entries;
        let address = entries[pick % entries.len()].0;
        entries.insert(pick % (entries.len() + 1), (address, U256::from(amount)));
        prop_assert_eq!(
            MerkleTree::build(&entries).unwrap_err(),
            MerkleError::DuplicateAddress(address)
        );
    }
}
