// Round trees as the platform builds them, and the claim arguments from them.
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';

/** A round's tree over { account: cumulativeAmount }. */
export function roundTree(balances) {
  return StandardMerkleTree.of(
    Object.entries(balances).map(([account, amount]) => [account, amount.toString()]),
    ['address', 'uint256'],
  );
}

/** The claim arguments for `account` from `tree`. */
export function claimArgs(tree, account) {
  for (const [i, [address, amount]] of tree.entries()) {
    if (address === account.address) return [address, BigInt(amount), tree.getProof(i)];
  }
  throw new Error(`${account.address} is not in the tree`);
}
