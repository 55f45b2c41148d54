// Version 2 of the distributor: roots wait out a timelock during which a
// guardian can revoke them, each root carries its tree export's hash, and a
// distributor replacing version 1 never pays a member twice.
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { keccak256, parseEventLogs, stringToHex, zeroHash } from 'viem';
import { startAnvil } from './support/anvil.mjs';
import { claimArgs, roundTree } from './support/merkle.mjs';
import { accounts, clients, deployRewards, read, revertReason, send } from './support/contracts.mjs';

const { admin, updater, pauser, relayer, alice, bob, mallory, guardian } = accounts;
const DAY = 86_400n;

/** The hash published with a root: of the tree's export, byte for byte. */
const exportHashOf = (tree) => keccak256(stringToHex(JSON.stringify(tree.dump())));

describe('RewardDistributor root timelock', () => {
  let anvil;
  let chain;
  let token;
  let distributor;
  let snapshot;

  before(async () => {
    anvil = await startAnvil();
    chain = clients(anvil.url);
    ({ token, distributor } = await deployRewards(chain, { timelock: DAY }));
  });
  after(() => anvil?.stop());
  beforeEach(async () => {
    snapshot = await chain.testClient.snapshot();
  });
  afterEach(() => chain.testClient.revert({ id: snapshot }));

  const propose = (tree, round, from = updater) =>
    send(chain, from, distributor, 'proposeRoot', [tree.root, round, exportHashOf(tree)]);
  const wait = async (seconds) => {
    await chain.testClient.increaseTime({ seconds: Number(seconds) });
    await chain.testClient.mine({ blocks: 1 });
  };

  it('makes a root claimable only once its delay is over, with its export hash', async () => {
    const tree = roundTree({ [alice.address]: 100n, [bob.address]: 50n });
    const receipt = await propose(tree, 1n);
    const [proposed] = parseEventLogs({ abi: distributor.abi, logs: receipt.logs, eventName: 'RootProposed' });
    const proposedAt = (await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
    assert.deepEqual(proposed.args, {
      round: 1n,
      root: tree.root,
      exportHash: exportHashOf(tree),
      validAt: proposedAt + DAY,
    });
    assert.deepEqual(await read(chain, distributor, 'pendingRoot'), [tree.root, exportHashOf(tree), 1n, proposedAt + DAY]);

    // Not claimable, not acceptable, while it waits.
    assert.equal(await read(chain, distributor, 'round'), 0n);
    assert.equal(await revertReason(chain, relayer, distributor, 'claim', claimArgs(tree, alice)), 'InvalidProof');
    assert.equal(await revertReason(chain, relayer, distributor, 'acceptRoot', []), 'RootTimelocked');
    await wait(DAY - 10n);
    assert.equal(await revertReason(chain, relayer, distributor, 'acceptRoot', []), 'RootTimelocked');

    // Then anyone accepts it and it pays.
    await wait(10n);
    await send(chain, mallory, distributor, 'acceptRoot', []);
    assert.equal(await read(chain, distributor, 'round'), 1n);
    assert.equal(await read(chain, distributor, 'root'), tree.root);
    assert.equal(await read(chain, distributor, 'exportHash'), exportHashOf(tree));
    assert.deepEqual(await read(chain, distributor, 'pendingRoot'), [zeroHash, zeroHash, 0n, 0n]);
    await send(chain, relayer, distributor, 'claim', claimArgs(tree, alice));
    assert.equal(await read(chain, token, 'balanceOf', [alice.address]), 100n);
    assert.equal(await revertReason(chain, relayer, distributor, 'acceptRoot', []), 'NoPendingRoot');
  });

  it('lets a waiting root block the next proposal, and accepts a due one first', async () => {
    const round1 = roundTree({ [alice.address]: 100n, [bob.address]: 1n });
    const round2 = roundTree({ [alice.address]: 300n, [bob.address]: 1n });
    await propose(round1, 1n);
    assert.equal(
      await revertReason(chain, updater, distributor, 'proposeRoot', [round2.root, 2n, zeroHash]),
      'PendingRootExists',
    );
    await wait(DAY);
    // Round 1 becomes claimable on the way; round 2 starts its own wait.
    await propose(round2, 2n);
    assert.equal(await read(chain, distributor, 'round'), 1n);
    assert.equal((await read(chain, distributor, 'pendingRoot'))[2], 2n);
    await send(chain, relayer, distributor, 'claim', claimArgs(round1, alice));
    assert.equal(await read(chain, token, 'balanceOf', [alice.address]), 100n);
  });

  it('lets the guardian or the admin revoke a pending root for good', async () => {
    const bad = roundTree({ [mallory.address]: 10n ** 24n, [bob.address]: 1n });
    await propose(bad, 1n);
    for (const from of [mallory, updater, pauser]) {
      assert.equal(await revertReason(chain, from, distributor, 'revokePendingRoot', []), 'NotGuardian');
    }
    const receipt = await send(chain, guardian, distributor, 'revokePendingRoot', []);
    const [revoked] = parseEventLogs({ abi: distributor.abi, logs: receipt.logs, eventName: 'RootRevoked' });
    assert.deepEqual(revoked.args, { round: 1n, root: bad.root, by: guardian.address });
    const id = await read(chain, distributor, 'proposalId', [bad.root, 1n, exportHashOf(bad)]);
    assert.equal(await read(chain, distributor, 'revokedProposals', [id]), true);

    // It never becomes claimable, and cannot be proposed again.
    await wait(2n * DAY);
    assert.equal(await revertReason(chain, relayer, distributor, 'acceptRoot', []), 'NoPendingRoot');
    assert.equal(await revertReason(chain, relayer, distributor, 'claim', claimArgs(bad, mallory)), 'InvalidProof');
    assert.equal(
      await revertReason(chain, updater, distributor, 'proposeRoot', [bad.root, 1n, exportHashOf(bad)]),
      'ProposalWasRevoked',
    );

    // A corrected proposal goes through — even of the same root with
    // another hash; the admin can revoke too.
    await send(chain, updater, distributor, 'proposeRoot', [bad.root, 1n, zeroHash]);
    await send(chain, admin, distributor, 'revokePendingRoot', []);
    const good = roundTree({ [alice.address]: 5n, [bob.address]: 1n });
    await propose(good, 1n);
    await send(chain, admin, distributor, 'revokePendingRoot', []);
    assert.equal(await revertReason(chain, guardian, distributor, 'revokePendingRoot', []), 'NoPendingRoot');
  });

  it('lets only the admin change the delay, up to 30 days', async () => {
    assert.equal(
      await revertReason(chain, updater, distributor, 'setRootTimelock', [0n]),
      'AccessControlUnauthorizedAccount',
    );
    assert.equal(await revertReason(chain, admin, distributor, 'setRootTimelock', [31n * DAY]), 'TimelockTooLong');
    await send(chain, admin, distributor, 'setRootTimelock', [60n]);
    const tree = roundTree({ [alice.address]: 1n, [bob.address]: 1n });
    const receipt = await propose(tree, 1n);
    // The proposal's own block time, not the wall clock: a slow machine
    // must not make the delay look longer than it is.
    const proposedAt = (await chain.publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
    assert.equal((await read(chain, distributor, 'pendingRoot'))[3], proposedAt + 60n);
  });

  it('records the gas of a timelocked root update', async (t) => {
    const tree = roundTree({ [alice.address]: 1n, [bob.address]: 1n });
    const proposed = await propose(tree, 1n);
    await wait(DAY);
    const accepted = await send(chain, relayer, distributor, 'acceptRoot', []);
    t.diagnostic(`proposeRoot ${proposed.gasUsed}, acceptRoot ${accepted.gasUsed}`);
    // Regression ceilings: four fresh slots for the pending root, then the move.
    assert.ok(proposed.gasUsed <= 120_000n, `proposeRoot: ${proposed.gasUsed}`);
    assert.ok(accepted.gasUsed <= 110_000n, `acceptRoot: ${accepted.gasUsed}`);
  });
});

describe('RewardDistributor replacing version 1', () => {
  let anvil;
  let chain;

  before(async () => {
    anvil = await startAnvil();
    chain = clients(anvil.url);
  });
  after(() => anvil?.stop());

  it('counts what version 1 paid, so nobody is paid twice', async () => {
    const { token, distributor: v1 } = await deployRewards(chain, { version: 1 });
    const round1 = roundTree({ [alice.address]: 100n, [bob.address]: 40n });
    await send(chain, updater, v1, 'setRoot', [round1.root, 1n]);
    await send(chain, relayer, v1, 'claim', claimArgs(round1, alice));
    // The move: version 2 knows what version 1 paid, and pays only while
    // version 1 is paused.
    const { distributor: v2 } = await deployRewards(chain, { token, legacy: v1.address });
    assert.equal(await read(chain, v2, 'claimed', [alice.address]), 100n);
    assert.equal(await read(chain, v2, 'claimed', [bob.address]), 0n);
    const round2 = roundTree({ [alice.address]: 150n, [bob.address]: 40n });
    await send(chain, updater, v2, 'proposeRoot', [round2.root, 2n, exportHashOf(round2)]);
    assert.equal(await revertReason(chain, relayer, v2, 'claim', claimArgs(round2, alice)), 'LegacyNotPaused');
    await send(chain, pauser, v1, 'pause', []);
    await send(chain, relayer, v2, 'claim', claimArgs(round2, alice));
    await send(chain, relayer, v2, 'claim', claimArgs(round2, bob));
    assert.equal(await read(chain, token, 'balanceOf', [alice.address]), 150n);
    assert.equal(await read(chain, token, 'balanceOf', [bob.address]), 40n);
    assert.equal(await revertReason(chain, relayer, v2, 'claim', claimArgs(round2, alice)), 'NothingToClaim');
    assert.equal(await revertReason(chain, relayer, v1, 'claim', claimArgs(round1, bob)), 'EnforcedPause');
    // Version 1 unpaused again: version 2 stops rather than pay twice.
    await send(chain, admin, v1, 'unpause', []);
    const round3 = roundTree({ [alice.address]: 160n, [bob.address]: 40n });
    await send(chain, updater, v2, 'proposeRoot', [round3.root, 3n, exportHashOf(round3)]);
    assert.equal(await revertReason(chain, relayer, v2, 'claim', claimArgs(round3, alice)), 'LegacyNotPaused');
  });
});
