// Writes the StandardMerkleTree fixtures that the Rust Merkle code in
// meritree-core is checked against, so that our roots and proofs are the ones
// OpenZeppelin's own library (and so any claim tooling built on it) produces.
// Deterministic: rerunning it rewrites the same file.
//
//   node scripts/merkle-fixtures.mjs
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getAddress, hexToBigInt, keccak256, maxUint256, slice, stringToHex } from 'viem';

const here = dirname(fileURLToPath(import.meta.url));
const OUT = join(here, '../../crates/core/tests/fixtures/standard_merkle_tree.json');
const SIZES = [1, 2, 3, 4, 5, 7, 8, 13, 100];
const LEAF_ENCODING = ['address', 'uint256'];

const { version } = JSON.parse(
  readFileSync(join(here, '../node_modules/@openzeppelin/merkle-tree/package.json'), 'utf8'),
);

// Each value comes from hashing a label, so the data is stable across runs and
// machines without a seeded PRNG implementation to agree on.
const digest = (label) => keccak256(stringToHex(label));

function amountFor(size, i) {
  // The edges a 256-bit amount codec can get wrong, spread over the trees.
  if (i === 1) return 0n;
  if (i === 2) return maxUint256;
  if (i === 3) return maxUint256 - 1n;
  // Otherwise up to about a million tokens of 18 decimals.
  return hexToBigInt(digest(`meritree-fixture/${size}/${i}/amount`)) % 10n ** 24n;
}

function valuesFor(size) {
  return Array.from({ length: size }, (_, i) => [
    getAddress(slice(digest(`meritree-fixture/${size}/${i}/account`), 12)),
    amountFor(size, i).toString(),
  ]);
}

const trees = SIZES.map((size) => {
  const values = valuesFor(size);
  const tree = StandardMerkleTree.of(values, LEAF_ENCODING);
  return {
    size,
    values,
    root: tree.root,
    leafHashes: values.map((value) => tree.leafHash(value)),
    proofs: values.map((_, i) => tree.getProof(i)),
    dump: tree.dump(),
  };
});

const fixture = {
  description:
    'StandardMerkleTree.of(values, leafEncoding) from @openzeppelin/merkle-tree with its default options ' +
    '(leaves sorted). values, leafHashes and proofs are in input order; dump is tree.dump(). ' +
    'Regenerate with `node scripts/merkle-fixtures.mjs` in contracts/.',
  generator: `@openzeppelin/merkle-tree ${version}`,
  leafEncoding: LEAF_ENCODING,
  trees,
};

mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(fixture, null, 2)}\n`);
console.log(`wrote ${trees.length} trees to crates/core/tests/fixtures/standard_merkle_tree.json`);
