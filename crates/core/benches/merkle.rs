//! Merkle tree cost at settlement sizes (run: `cargo bench -p meritree-core
//! --bench merkle`): building the tree (leaf hashing, sorting, inner nodes)
//! and then producing every proof, as a round close does. Target: 1,000,000
//! leaves in under a second. Besides criterion's statistics, prints the
//! split between build and proofs for the largest size.

use std::hint::black_box;
use std::time::{Duration, Instant};

use alloy_primitives::{keccak256, Address, B256, U256};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use meritree_core::merkle::MerkleTree;

fn entries(n: usize) -> Vec<(Address, U256)> {
    (0..n)
        .map(|i| {
            // Spread like real addresses: a hash, not a counter.
            let word = keccak256((i as u64).to_be_bytes());
            (
                Address::from_slice(&word[12..]),
                U256::from(i as u64 * 1_000_000_007),
            )
        })
        .collect()
}

/// Root and every proof, touched so that none of it is optimised away.
fn root_and_proofs(entries: &[(Address, U256)]) -> (B256, u8) {
    let tree = MerkleTree::build(entries).unwrap();
    let mut checksum = 0u8;
    tree.for_each_proof(|_, proof| checksum ^= proof.first().map_or(0, |p| p[0]));
    (tree.root(), checksum)
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("merkle root + all proofs");
    for n in [1_000, 100_000, 1_000_000] {
        let entries = entries(n);
        if n >= 1_000_000 {
            // A million-leaf run takes most of a second: the fewest samples
            // criterion accepts keep the whole benchmark near a minute.
            group.sample_size(10);
            group.measurement_time(Duration::from_secs(10));
        } else if n >= 100_000 {
            group.sample_size(30);
        }
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::from_parameter(n), &entries, |b, entries| {
            b.iter(|| black_box(root_and_proofs(entries)))
        });
        if n >= 1_000_000 {
            print_split(&entries);
        }
    }
    group.finish();
}

/// The best of five runs, split into build and proofs.
fn print_split(entries: &[(Address, U256)]) {
    let (build, proofs) = (0..5)
        .map(|_| {
            let started = Instant::now();
            let tree = MerkleTree::build(entries).unwrap();
            let build = started.elapsed();
            let mut checksum = 0u8;
            tree.for_each_proof(|_, proof| checksum ^= proof.first().map_or(0, |p| p[0]));
            black_box((tree.root(), checksum));
            (build, started.elapsed() - build)
        })
        .min_by_key(|(build, proofs)| *build + *proofs)
        .unwrap();
    println!(
        "merkle {} leaves: root + all proofs {:.2?} (build {build:.2?}, proofs {proofs:.2?})",
        entries.len(),
        build + proofs
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
