import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { parseEventLogs, zeroHash } from 'viem';
import { startAnvil } from './support/anvil.mjs';
import { claimArgs, roundTree } from './support/merkle.mjs';
import { accounts, clients, deploy, deployRewards, read, revertReason, send, ZERO_ADDRESS } from './support/contracts.mjs';

const { admin, updater, pauser, relayer, alice, bob, carol, mallory } = accounts;

describe('RewardDistributor', () => {
  let anvil;
  let chain;
  let token;
  let distributor;
  let snapshot;

  before(async () => {
    anvil = await startAnvil();
    chain = clients(anvil.url);
    ({ token, distributor } = await deployRewards(chain));
  });
  after(() => anvil?.stop());
  // Every test starts from the freshly deployed contracts.
  beforeEach(async () => {
    snapshot = await chain.testClient.snapshot();
  });
  afterEach(() => chain.testClient.revert({ id: snapshot }));

  // With no timelock a proposed root is claimable at once.
  const setRoot = (tree, round, from = updater) =>
    send(chain, from, distributor, 'proposeRoot', [tree.root, round, zeroHash]);
  const claim = (args, from = relayer) => send(chain, from, distributor, 'claim', args);
  const balanceOf = (account) => read(chain, token, 'balanceOf', [account.address]);
  const claimed = (account) => read(chain, distributor, 'claimed', [account.address]);

  it('pays the growth of the cumulative total round after round', async () => {
    const round1 = roundTree({ [alice.address]: 100n, [bob.address]: 50n });
    await setRoot(round1, 1n);
    await claim(claimArgs(round1, alice));
    assert.equal(await balanceOf(alice), 100n);

    // Bob skips round 1 and collects both rounds at once.
    const round2 = roundTree({ [alice.address]: 250n, [bob.address]: 80n, [carol.address]: 5n });
    await setRoot(round2, 2n);
    const receipt = await claim(claimArgs(round2, alice));
    await claim(claimArgs(round2, bob));

    assert.equal(await balanceOf(alice), 250n);
    assert.equal(await claimed(alice), 250n);
    assert.equal(await balanceOf(bob), 80n);
    assert.equal(await claimed(bob), 80n);
    const [event] = parseEventLogs({ abi: distributor.abi, logs: receipt.logs, eventName: 'Claimed' });
    assert.deepEqual(event.args, { account: alice.address, to: alice.address, amount: 150n, cumulativeAmount: 250n });
  });

  it('sends the tokens to the account whoever submits the claim', async () => {
    const tree = roundTree({ [alice.address]: 7n, [bob.address]: 1n });
    await setRoot(tree, 1n);
    await claim(claimArgs(tree, alice), mallory);
    assert.equal(await balanceOf(alice), 7n);
    assert.equal(await balanceOf(mallory), 0n);
  });

  it('keeps accepting the previous root, but not older ones', async () => {
    const round1 = roundTree({ [alice.address]: 100n, [bob.address]: 50n });
    const round2 = roundTree({ [alice.address]: 200n, [bob.address]: 60n });
    const round3 = roundTree({ [alice.address]: 300n, [bob.address]: 70n });
    await setRoot(round1, 1n);
    await setRoot(round2, 2n);

    // Built against round 1 while round 2 was being published.
    await claim(claimArgs(round1, alice));
    assert.equal(await balanceOf(alice), 100n);

    await setRoot(round3, 3n);
    assert.equal(await revertReason(chain, relayer, distributor, 'claim', claimArgs(round1, bob)), 'InvalidProof');
    await claim(claimArgs(round2, bob));
    assert.equal(await balanceOf(bob), 60n);
  });

  it('refuses a claim that would pay nothing', async () => {
    const round1 = roundTree({ [alice.address]: 100n, [bob.address]: 50n });
    const round2 = roundTree({ [alice.address]: 200n, [bob.address]: 50n });
    await setRoot(round1, 1n);
    await setRoot(round2, 2n);
    await claim(claimArgs(round2, alice));

    const again = claimArgs(round2, alice);
    assert.equal(await revertReason(chain, relayer, distributor, 'claim', again), 'NothingToClaim');
    // The previous root's smaller total is below what has been paid.
    const older = claimArgs(round1, alice);
    assert.equal(await revertReason(chain, relayer, distributor, 'claim', older), 'NothingToClaim');
    assert.equal(await balanceOf(alice), 200n);
  });

  it('rejects a proof used for another account or amount', async () => {
    const tree = roundTree({ [alice.address]: 100n, [bob.address]: 50n, [carol.address]: 9n });
    await setRoot(tree, 1n);
    const [, amount, proof] = claimArgs(tree, alice);

    for (const args of [
      [mallory.address, amount, proof],
      [bob.address, amount, proof],
      [alice.address, amount + 1n, proof],
      [alice.address, amount, proof.slice(1)],
      [alice.address, amount, []],
    ]) {
      assert.equal(await revertReason(chain, relayer, distributor, 'claim', args), 'InvalidProof');
    }
  });

  it('pauses claims but not settlement', async () => {
    const round1 = roundTree({ [alice.address]: 100n, [bob.address]: 50n });
    const round2 = roundTree({ [alice.address]: 150n, [bob.address]: 50n });
    await setRoot(round1, 1n);
    await send(chain, pauser, distributor, 'pause', []);
    assert.equal(await read(chain, distributor, 'paused'), true);

    assert.equal(await revertReason(chain, relayer, distributor, 'claim', claimArgs(round1, alice)), 'EnforcedPause');
    await setRoot(round2, 2n);

    // Resuming is the admin's decision, not the pauser's.
    assert.equal(
      await revertReason(chain, pauser, distributor, 'unpause', []),
      'AccessControlUnauthorizedAccount',
    );
    await send(chain, admin, distributor, 'unpause', []);
    await claim(claimArgs(round2, alice));
    assert.equal(await balanceOf(alice), 150n);
  });

  it('lets only the pauser pause', async () => {
    assert.equal(await revertReason(chain, mallory, distributor, 'pause', []), 'AccessControlUnauthorizedAccount');
    assert.equal(await revertReason(chain, updater, distributor, 'pause', []), 'AccessControlUnauthorizedAccount');
  });

  it('lets only the updater propose a root', async () => {
    const tree = roundTree({ [mallory.address]: 10n ** 24n });
    for (const from of [mallory, admin, pauser]) {
      assert.equal(
        await revertReason(chain, from, distributor, 'proposeRoot', [tree.root, 1n, zeroHash]),
        'AccessControlUnauthorizedAccount',
      );
    }
    assert.equal(await read(chain, distributor, 'root'), zeroHash);
  });

  it('requires every root update to move the round forward', async () => {
    const round1 = roundTree({ [alice.address]: 1n });
    const round5 = roundTree({ [alice.address]: 5n });
    await setRoot(round1, 1n);
    const receipt = await setRoot(round5, 5n); // rounds may be skipped

    const [event] = parseEventLogs({ abi: distributor.abi, logs: receipt.logs, eventName: 'RootUpdated' });
    assert.deepEqual(event.args, { round: 5n, root: round5.root, previousRoot: round1.root });
    assert.equal(await read(chain, distributor, 'round'), 5n);
    assert.equal(await read(chain, distributor, 'root'), round5.root);
    assert.equal(await read(chain, distributor, 'previousRoot'), round1.root);

    for (const stale of [5n, 4n, 0n]) {
      assert.equal(
        await revertReason(chain, updater, distributor, 'proposeRoot', [round1.root, stale, zeroHash]),
        'RoundNotIncreasing',
      );
    }
  });

  it('refuses a zero token or admin at deployment', async () => {
    await assert.rejects(
      deploy(chain, 'RewardDistributor', [
        ZERO_ADDRESS,
        admin.address,
        updater.address,
        pauser.address,
        admin.address,
        0n,
        ZERO_ADDRESS,
      ]),
    );
  });
});

describe('RewardToken', () => {
  let anvil;
  let chain;

  before(async () => {
    anvil = await startAnvil();
    chain = clients(anvil.url);
  });
  after(() => anvil?.stop());

  it('has 18 decimals and lets only minters mint', async () => {
    const token = await deploy(chain, 'RewardToken', ['Meritree Reward', 'MRT', admin.address]);
    assert.equal(await read(chain, token, 'decimals'), 18);
    assert.equal(await read(chain, token, 'symbol'), 'MRT');
    assert.equal(
      await revertReason(chain, mallory, token, 'mint', [mallory.address, 1n]),
      'AccessControlUnauthorizedAccount',
    );
    const minterRole = await read(chain, token, 'MINTER_ROLE');
    await send(chain, admin, token, 'grantRole', [minterRole, relayer.address]);
    await send(chain, relayer, token, 'mint', [bob.address, 3n]);
    assert.equal(await read(chain, token, 'balanceOf', [bob.address]), 3n);
  });
});
