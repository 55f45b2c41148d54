// Gas of the distributor's hot paths with a depth-20 proof (a tree of about a
// million members), and of node staking's. Gas is deterministic for the pinned
// compiler and anvil, so the numbers are printed for the record and only
// regression ceilings are asserted.
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { concat, hexToBytes, keccak256, numberToHex, parseEther, zeroHash } from 'viem';
import { startAnvil } from './support/anvil.mjs';
import { accounts, clients, deploy, deployRewards, read, send, signClaimTo } from './support/contracts.mjs';

const { admin, updater, relayer, alice, bob, carol, mallory } = accounts;
const DEPTH = 20;
const INTRINSIC = 21_000;

// OpenZeppelin's MerkleProof hashes each pair in sorted order.
const hashPair = (a, b) => keccak256(BigInt(a) < BigInt(b) ? concat([a, b]) : concat([b, a]));

// A one-leaf StandardMerkleTree's root is that leaf's hash.
const leafHash = (account, amount) => StandardMerkleTree.of([[account, amount]], ['address', 'uint256']).root;

/**
 * The root and proof of `account`'s leaf in a depth-20 tree. The other 2^20-1
 * leaves only matter through the 20 sibling hashes on the path, so arbitrary
 * siblings give a proof and root of the same shape a full tree would.
 */
function depth20Proof(account, amount, seed) {
  const proof = Array.from({ length: DEPTH }, (_, level) => keccak256(numberToHex(seed * 256 + level)));
  const root = proof.reduce(hashPair, leafHash(account, amount));
  return { root, proof };
}

/** gasUsed split into intrinsic, calldata and execution gas. */
async function breakdown(chain, receipt) {
  const { input } = await chain.publicClient.getTransaction({ hash: receipt.transactionHash });
  const bytes = hexToBytes(input);
  const zeros = bytes.filter((byte) => byte === 0).length;
  const nonZeros = bytes.length - zeros;
  const gasUsed = Number(receipt.gasUsed);
  const calldata = 4 * zeros + 16 * nonZeros;
  // EIP-7623: a transaction pays at least this floor, and then the split below is meaningless.
  const floor = INTRINSIC + 10 * (zeros + 4 * nonZeros);
  return { gasUsed, calldata, execution: gasUsed - INTRINSIC - calldata, floor, inputBytes: bytes.length };
}

describe('gas', () => {
  let anvil;
  let chain;
  let token;
  let distributor;

  before(async () => {
    anvil = await startAnvil();
    chain = clients(anvil.url);
    ({ token, distributor } = await deployRewards(chain, { funding: parseEther('1000000000') }));
  });
  after(() => anvil?.stop());

  it('of proposeRoot (no timelock), claim and claimTo with a depth-20 proof', async (t) => {
    const measure = async (label, receiptPromise) => {
      const b = await breakdown(chain, await receiptPromise);
      assert.ok(b.gasUsed > b.floor, `${label} paid the EIP-7623 calldata floor`);
      t.diagnostic(
        `${label}: gasUsed ${b.gasUsed} = ${INTRINSIC} intrinsic + ${b.calldata} calldata ` +
          `(${b.inputBytes} bytes) + ${b.execution} execution`,
      );
      return b.gasUsed;
    };
    const setRoot = (root, round) => send(chain, updater, distributor, 'proposeRoot', [root, round, zeroHash]);
    const claim = (account, amount, proof) => send(chain, relayer, distributor, 'claim', [account, amount, proof]);
    const amount = parseEther('123.45');

    const round1 = depth20Proof(alice.address, amount, 1);
    await measure('proposeRoot, first round', setRoot(round1.root, 1n));
    const first = await measure(
      'claim, first, to an address without tokens',
      claim(alice.address, amount, round1.proof),
    );

    await send(chain, admin, token, 'mint', [bob.address, 1n]);
    const round2 = depth20Proof(bob.address, amount, 2);
    await measure('proposeRoot, second round (previousRoot first set)', setRoot(round2.root, 2n));
    await measure('claim, first, to an address already holding tokens', claim(bob.address, amount, round2.proof));

    const round3 = depth20Proof(alice.address, 2n * amount, 3);
    const steadySetRoot = await measure('proposeRoot, steady state', setRoot(round3.root, 3n));
    const repeat = await measure('claim, repeat', claim(alice.address, 2n * amount, round3.proof));

    const round4 = depth20Proof(carol.address, amount, 4);
    await setRoot(round4.root, 4n);
    const deadline = (await chain.publicClient.getBlock()).timestamp + 3600n;
    const message = { account: carol.address, to: mallory.address, cumulativeAmount: amount, nonce: 0n, deadline };
    const signature = await signClaimTo(carol, distributor, message);
    await measure(
      'claimTo, first, EOA signature, to an address without tokens',
      send(chain, relayer, distributor, 'claimTo', [
        carol.address,
        mallory.address,
        amount,
        round4.proof,
        deadline,
        signature,
      ]),
    );
    assert.equal(await read(chain, token, 'balanceOf', [mallory.address]), amount);

    // A first claim to a new holder writes two fresh slots (claimed[account]
    // and the recipient's balance, 20,000 each) and reads five cold ones;
    // with the intrinsic cost and a depth-20 proof's calldata that is about
    // 92,000 before any computation. These ceilings only catch regressions.
    assert.ok(first <= 100_000, `first claim: ${first}`);
    assert.ok(repeat <= 65_000, `repeat claim: ${repeat}`);
    // Above version 1's setRoot (about 42,000): the pending root, the revoked
    // roots and the export hash are read, and RootProposed is logged too.
    assert.ok(steadySetRoot <= 58_000, `proposeRoot: ${steadySetRoot}`);
  });
});

describe('gas of NodeStaking', () => {
  let anvil;
  let chain;

  before(async () => {
    anvil = await startAnvil();
    chain = clients(anvil.url);
  });
  after(() => anvil?.stop());

  it('of stake, requestUnstake, withdraw and slash', async (t) => {
    const measure = async (label, receiptPromise) => {
      const b = await breakdown(chain, await receiptPromise);
      assert.ok(b.gasUsed > b.floor, `${label} paid the EIP-7623 calldata floor`);
      t.diagnostic(
        `${label}: gasUsed ${b.gasUsed} = ${INTRINSIC} intrinsic + ${b.calldata} calldata ` +
          `(${b.inputBytes} bytes) + ${b.execution} execution`,
      );
      return b.gasUsed;
    };
    const token = await deploy(chain, 'RewardToken', ['Meritree Reward', 'MRT', admin.address]);
    const staking = await deploy(chain, 'NodeStaking', [token.address, 3600n, admin.address]);
    const amount = parseEther('1000');
    for (const operator of [alice, bob]) {
      await send(chain, admin, token, 'mint', [operator.address, 2n * amount]);
      await send(chain, operator, token, 'approve', [staking.address, 2n * amount]);
    }
    const call = (from, functionName, args) => send(chain, from, staking, functionName, args);

    const firstStake = await measure('stake, first', call(alice, 'stake', [amount]));
    const topUp = await measure('stake, top-up', call(alice, 'stake', [amount]));
    const request = await measure('requestUnstake, first', call(alice, 'requestUnstake', [amount / 2n]));
    await measure('requestUnstake, adding to a pending amount', call(alice, 'requestUnstake', [amount / 4n]));
    await chain.testClient.increaseTime({ seconds: 3600 });
    await chain.testClient.mine({ blocks: 1 });
    const withdraw = await measure('withdraw', call(alice, 'withdraw', []));

    await call(bob, 'stake', [amount]);
    await call(bob, 'requestUnstake', [amount / 2n]);
    const slashActive = await measure(
      'slash, first, from the active stake only',
      call(admin, 'slash', [bob.address, amount / 4n, 'missed heartbeats']),
    );
    await measure(
      'slash, repeat, reaching into the pending amount',
      call(admin, 'slash', [bob.address, amount / 2n, 'missed heartbeats']),
    );

    // A first stake, a first request, a withdrawal that empties the operator's
    // wallet back into it and a first slash into the treasury each write a
    // fresh slot (20,000). These ceilings only catch regressions.
    assert.ok(firstStake <= 95_000, `first stake: ${firstStake}`);
    assert.ok(topUp <= 50_000, `top-up stake: ${topUp}`);
    assert.ok(request <= 60_000, `first unstake request: ${request}`);
    assert.ok(withdraw <= 65_000, `withdraw: ${withdraw}`);
    assert.ok(slashActive <= 80_000, `first slash: ${slashActive}`);
  });
});
