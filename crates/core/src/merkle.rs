//! Merkle trees of cumulative rewards, byte for byte as OpenZeppelin's
//! `StandardMerkleTree.of(values, ["address", "uint256"])` builds them, so
//! the contract (OpenZeppelin `MerkleProof`), the JS library and this code
//! agree on every root and proof.
//!
//! - leaf: `keccak256(keccak256(abi.encode(address, amount)))` — the double
//!   hash keeps a 64-byte leaf preimage from ever equalling an inner node;
//! - inner node: `keccak256` of the two children, smaller first;
//! - layout: leaves sorted by hash, stored at the end of one flat array in
//!   reverse, `node[i] = hash(node[2i+1], node[2i+2])`; a proof is the
//!   siblings from the leaf up.

use std::fmt;

use alloy_primitives::{keccak256, Address, B256, U256};

/// One wallet's leaf: its address and cumulative amount.
pub type Entry = (Address, U256);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MerkleError {
    /// A tree needs at least one leaf.
    Empty,
    /// One cumulative amount per wallet: two leaves for one address would
    /// let it claim the larger and then the smaller.
    DuplicateAddress(Address),
}

impl fmt::Display for MerkleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MerkleError::Empty => f.write_str("a Merkle tree needs at least one leaf"),
            MerkleError::DuplicateAddress(a) => write!(f, "{a} appears twice"),
        }
    }
}

impl std::error::Error for MerkleError {}

#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// The whole tree, root first (OpenZeppelin's `tree` array).
    nodes: Vec<B256>,
    /// For each entry, in the order given: where its leaf is in `nodes`.
    positions: Vec<usize>,
    /// The inverse, by leaf (sorted-hash order): which entry it is.
    entries_by_leaf: Vec<usize>,
}

impl MerkleTree {
    pub fn build(entries: &[Entry]) -> Result<Self, MerkleError> {
        if entries.is_empty() {
            return Err(MerkleError::Empty);
        }
        // One sorted run per core, merged: sorting is the largest part of a
        // big tree's time after Keccak, and it splits as well.
        let addresses = sorted_runs(entries.len(), |i| entries[i].0);
        let mut previous = None;
        let mut duplicate = None;
        merge_runs(addresses, |address| {
            if previous == Some(address) {
                duplicate.get_or_insert(address);
            }
            previous = Some(address);
        });
        if let Some(address) = duplicate {
            return Err(MerkleError::DuplicateAddress(address));
        }

        let leaves = sorted_runs(entries.len(), |i| {
            let (address, amount) = &entries[i];
            (leaf_hash(address, amount), i)
        });
        let count = entries.len();
        let mut nodes = vec![B256::ZERO; 2 * count - 1];
        let mut positions = vec![0; count];
        let mut entries_by_leaf = Vec::with_capacity(count);
        // Leaves go in from the end, smallest hash last, as OpenZeppelin puts them.
        let mut position = nodes.len();
        merge_runs(leaves, |(hash, entry_index)| {
            position -= 1;
            nodes[position] = hash;
            positions[entry_index] = position;
            entries_by_leaf.push(entry_index);
        });
        // The array is a binary heap: node i's children are 2i+1 and 2i+2,
        // one depth further down. Deepest first, one depth at a time, every
        // node of a depth can be hashed at once.
        let inner = count - 1;
        // The first index of the deepest depth with an inner node (none for one leaf).
        let Some(deepest) = inner.checked_ilog2() else {
            return Ok(Self {
                nodes,
                positions,
                entries_by_leaf,
            });
        };
        let mut depth_start = (1usize << deepest) - 1;
        loop {
            let depth_end = (2 * depth_start + 1).min(inner);
            if depth_start < depth_end {
                let (upper, lower) = nodes.split_at_mut(2 * depth_start + 1);
                let children = &*lower;
                let base = 2 * depth_start + 1;
                parallel_fill(&mut upper[depth_start..depth_end], |offset, chunk| {
                    for (k, node) in chunk.iter_mut().enumerate() {
                        let i = depth_start + offset + k;
                        *node = hash_pair(&children[2 * i + 1 - base], &children[2 * i + 2 - base]);
                    }
                });
            }
            if depth_start == 0 {
                break;
            }
            depth_start = (depth_start - 1) / 2;
        }
        Ok(Self {
            nodes,
            positions,
            entries_by_leaf,
        })
    }

    pub fn root(&self) -> B256 {
        self.nodes[0]
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// The proof for the `entry`-th entry given to [`MerkleTree::build`].
    pub fn proof(&self, entry: usize) -> Vec<B256> {
        let mut proof = Vec::new();
        self.proof_into(entry, &mut proof);
        proof
    }

    /// Like [`MerkleTree::proof`], reusing `out`'s allocation.
    pub fn proof_into(&self, entry: usize, out: &mut Vec<B256>) {
        out.clear();
        let mut index = self.positions[entry];
        while index > 0 {
            out.push(self.nodes[sibling(index)]);
            index = (index - 1) / 2;
        }
    }

    /// Calls `f(entry, proof)` for every entry, walking the leaves in tree
    /// order. Neighbouring leaves share all of their path above their
    /// common ancestor, so each proof rewrites only the siblings below it:
    /// about two per leaf rather than the tree's depth.
    pub fn for_each_proof(&self, mut f: impl FnMut(usize, &[B256])) {
        let mut proof: Vec<B256> = Vec::with_capacity(64);
        // `path[k]`: the node `k` steps above the previous leaf (`path[0]` the leaf).
        let mut path: Vec<usize> = Vec::with_capacity(64);
        let first_leaf = self.nodes.len() - self.len();
        for (mut index, &entry) in (first_leaf..).zip(self.entries_by_leaf.iter().rev()) {
            let depth = (index + 1).ilog2() as usize;
            if depth != path.len() {
                // The last depth holds only some of the leaves (sizes that are
                // not powers of two): paths change length once, where it ends.
                path.clear();
                proof.clear();
                path.resize(depth, usize::MAX);
                proof.resize(depth, B256::ZERO);
            }
            for k in 0..depth {
                if path[k] == index {
                    break;
                }
                path[k] = index;
                proof[k] = self.nodes[sibling(index)];
                index = (index - 1) / 2;
            }
            f(entry, &proof);
        }
    }

    /// OpenZeppelin's dump `tree` array, root first.
    pub fn nodes(&self) -> &[B256] {
        &self.nodes
    }

    /// Where the `entry`-th entry's leaf is in [`MerkleTree::nodes`] (the dump's `treeIndex`).
    pub fn tree_index(&self, entry: usize) -> usize {
        self.positions[entry]
    }
}

/// The other child of `index`'s parent (`index` > 0): left children are odd.
fn sibling(index: usize) -> usize {
    if index % 2 == 1 {
        index + 1
    } else {
        index - 1
    }
}

/// How many threads to split `len` items of Keccak-sized work over: every
/// core on native builds for large inputs; one in the browser, which has no
/// threads without extra setup, and for small inputs, where spawning costs
/// more than it saves.
fn parallelism(len: usize) -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    {
        const MIN_PARALLEL: usize = 16_384;
        if len >= MIN_PARALLEL {
            return std::thread::available_parallelism().map_or(1, |n| n.get());
        }
    }
    let _ = len;
    1
}

/// Runs `fill(offset, chunk)` over `slots` split into one chunk per thread.
/// Keccak is what a million-leaf tree spends its time on, and it
/// parallelises fully.
fn parallel_fill<T: Send>(slots: &mut [T], fill: impl Fn(usize, &mut [T]) + Sync) {
    let threads = parallelism(slots.len());
    if threads == 1 {
        return fill(0, slots);
    }
    let chunk_len = slots.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for (i, chunk) in slots.chunks_mut(chunk_len).enumerate() {
            let fill = &fill;
            scope.spawn(move || fill(i * chunk_len, chunk));
        }
    });
}

/// `make(0..len)` as sorted runs, one per thread, each made and sorted by
/// its own thread; [`merge_runs`] then visits them in order. After Keccak,
/// sorting is a big tree's largest cost, and it splits as well.
fn sorted_runs<T: Ord + Send>(len: usize, make: impl Fn(usize) -> T + Sync) -> Vec<Vec<T>> {
    let run = |range: std::ops::Range<usize>| {
        let mut items: Vec<T> = range.map(&make).collect();
        items.sort_unstable();
        items
    };
    let threads = parallelism(len);
    if threads == 1 {
        return vec![run(0..len)];
    }
    let chunk_len = len.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..len)
            .step_by(chunk_len)
            .map(|start| {
                let run = &run;
                scope.spawn(move || run(start..(start + chunk_len).min(len)))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("sorting does not panic"))
            .collect()
    })
}

/// Calls `visit` on every item of the sorted `runs`, smallest first.
fn merge_runs<T: Ord + Copy>(mut runs: Vec<Vec<T>>, visit: impl FnMut(T)) {
    // Pairwise until two are left (more than two only with more than two
    // cores), so the last merge, the one that visits, is a tight two-way loop.
    while runs.len() > 2 {
        let (a, b) = (runs.remove(0), runs.remove(0));
        let mut merged = Vec::with_capacity(a.len() + b.len());
        merge_two(&a, &b, |item| merged.push(item));
        runs.push(merged);
    }
    match runs.as_slice() {
        [a, b] => merge_two(a, b, visit),
        [a] => a.iter().copied().for_each(visit),
        _ => {}
    }
}

fn merge_two<T: Ord + Copy>(a: &[T], b: &[T], mut visit: impl FnMut(T)) {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if b[j] < a[i] {
            visit(b[j]);
            j += 1;
        } else {
            visit(a[i]);
            i += 1;
        }
    }
    a[i..].iter().chain(&b[j..]).copied().for_each(visit);
}

/// `keccak256(keccak256(abi.encode(address, amount)))`.
pub fn leaf_hash(address: &Address, amount: &U256) -> B256 {
    let mut encoded = [0u8; 64];
    encoded[12..32].copy_from_slice(address.as_slice());
    encoded[32..].copy_from_slice(&amount.to_be_bytes::<32>());
    keccak256(keccak256(encoded))
}

/// Sorted-pair hashing, as OpenZeppelin's `MerkleProof`.
pub fn hash_pair(a: &B256, b: &B256) -> B256 {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    let mut buffer = [0u8; 64];
    buffer[..32].copy_from_slice(low.as_slice());
    buffer[32..].copy_from_slice(high.as_slice());
    keccak256(buffer)
}

/// Whether `proof` leads from the leaf of `(address, amount)` to `root`,
/// as the contract checks it.
pub fn verify(root: &B256, address: &Address, amount: &U256, proof: &[B256]) -> bool {
    let computed = proof
        .iter()
        .fold(leaf_hash(address, amount), |node, sibling| {
            hash_pair(&node, sibling)
        });
    computed == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(n: usize) -> Vec<Entry> {
        (0..n)
            .map(|i| {
                let mut bytes = [0u8; 20];
                bytes[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
                (Address::from(bytes), U256::from(i * 1_000 + 7))
            })
            .collect()
    }

    #[test]
    fn every_proof_verifies_and_only_for_its_own_leaf() {
        for n in [1, 2, 3, 4, 5, 7, 8, 9, 31, 100] {
            let entries = entries(n);
            let tree = MerkleTree::build(&entries).unwrap();
            for (i, (address, amount)) in entries.iter().enumerate() {
                let proof = tree.proof(i);
                assert!(verify(&tree.root(), address, amount, &proof), "n={n} i={i}");
                assert!(!verify(
                    &tree.root(),
                    address,
                    &(amount + U256::from(1)),
                    &proof
                ));
                let (other, _) = entries[(i + 1) % n];
                if n > 1 {
                    assert!(!verify(&tree.root(), &other, amount, &proof));
                }
            }
        }
    }

    /// OpenZeppelin's `makeMerkleTree` loop, written out plainly.
    fn reference_nodes(entries: &[Entry]) -> Vec<B256> {
        let mut leaves: Vec<B256> = entries.iter().map(|(a, v)| leaf_hash(a, v)).collect();
        leaves.sort_unstable();
        let mut tree = vec![B256::ZERO; 2 * leaves.len() - 1];
        let len = tree.len();
        for (i, leaf) in leaves.iter().enumerate() {
            tree[len - 1 - i] = *leaf;
        }
        for i in (0..len - leaves.len()).rev() {
            tree[i] = hash_pair(&tree[2 * i + 1], &tree[2 * i + 2]);
        }
        tree
    }

    #[test]
    fn the_parallel_build_lays_out_large_trees_as_openzeppelin_does() {
        for n in [16_384, 40_001, 65_536] {
            let entries = entries(n);
            let tree = MerkleTree::build(&entries).unwrap();
            assert_eq!(tree.nodes(), reference_nodes(&entries).as_slice(), "n={n}");
        }
    }

    #[test]
    fn for_each_proof_gives_every_entry_its_proof_once() {
        let entries = entries(37);
        let tree = MerkleTree::build(&entries).unwrap();
        let mut seen = vec![false; entries.len()];
        tree.for_each_proof(|entry, proof| {
            assert!(!seen[entry]);
            seen[entry] = true;
            assert_eq!(proof, tree.proof(entry).as_slice());
        });
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn the_root_ignores_input_order() {
        let mut entries = entries(13);
        let root = MerkleTree::build(&entries).unwrap().root();
        entries.reverse();
        entries.swap(2, 9);
        assert_eq!(MerkleTree::build(&entries).unwrap().root(), root);
    }

    #[test]
    fn empty_and_duplicate_inputs_are_refused() {
        assert_eq!(MerkleTree::build(&[]).unwrap_err(), MerkleError::Empty);
        let mut entries = entries(3);
        entries.push((entries[1].0, U256::from(1)));
        assert_eq!(
            MerkleTree::build(&entries).unwrap_err(),
            MerkleError::DuplicateAddress(entries[1].0)
        );
    }
}
