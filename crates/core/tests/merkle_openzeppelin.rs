//! Our trees against trees built by OpenZeppelin's JS library
//! (`contracts/scripts/merkle-fixtures.mjs` wrote the fixture): the same
//! leaf hashes, root, proofs and layout for the same values.

use std::str::FromStr;

use alloy_primitives::{Address, B256, U256};
use meritree_core::merkle::{leaf_hash, verify, MerkleTree};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    trees: Vec<Tree>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tree {
    size: usize,
    values: Vec<(String, String)>,
    root: String,
    leaf_hashes: Vec<String>,
    proofs: Vec<Vec<String>>,
    dump: Dump,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Dump {
    tree: Vec<String>,
    values: Vec<DumpValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DumpValue {
    tree_index: usize,
}

fn hash(text: &str) -> B256 {
    B256::from_str(text).unwrap()
}

#[test]
fn trees_match_openzeppelin_standard_merkle_tree() {
    let fixture: Fixture =
        serde_json::from_str(include_str!("fixtures/standard_merkle_tree.json")).unwrap();
    assert!(fixture.trees.len() >= 9);
    for tree in fixture.trees {
        let entries: Vec<(Address, U256)> = tree
            .values
            .iter()
            .map(|(a, v)| (Address::from_str(a).unwrap(), U256::from_str(v).unwrap()))
            .collect();
        assert_eq!(entries.len(), tree.size);
        let ours = MerkleTree::build(&entries).unwrap();
        assert_eq!(ours.root(), hash(&tree.root), "root, size {}", tree.size);
        let layout: Vec<B256> = tree.dump.tree.iter().map(|h| hash(h)).collect();
        assert_eq!(
            ours.nodes(),
            layout.as_slice(),
            "layout, size {}",
            tree.size
        );
        for (i, (address, amount)) in entries.iter().enumerate() {
            assert_eq!(leaf_hash(address, amount), hash(&tree.leaf_hashes[i]));
            let expected: Vec<B256> = tree.proofs[i].iter().map(|h| hash(h)).collect();
            assert_eq!(ours.proof(i), expected, "proof {i}, size {}", tree.size);
            assert_eq!(ours.tree_index(i), tree.dump.values[i].tree_index);
            assert!(verify(&ours.root(), address, amount, &expected));
        }
    }
}
