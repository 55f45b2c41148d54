import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { parseEther, parseEventLogs, zeroAddress } from 'viem';
import { startAnvil } from './support/anvil.mjs';
import { accounts, clients, deploy, read, revertReason, send } from './support/contracts.mjs';

const { admin, relayer, alice, bob, carol, mallory } = accounts;
const COOLDOWN = 7n * 24n * 3600n;
const FUNDS = parseEther('1000');

describe('NodeStaking', () => {
  let anvil;
  let chain;
  let token;
  let staking;
  let snapshot;

  // Alice and bob are operators, each holding FUNDS and having approved all of it.
  before(async () => {
    anvil = await startAnvil();
    chain = clients(anvil.url);
    token = await deploy(chain, 'RewardToken', ['Meritree Reward', 'MRT', admin.address]);
    staking = await deploy(chain, 'NodeStaking', [token.address, COOLDOWN, admin.address]);
    for (const operator of [alice, bob]) {
      await send(chain, admin, token, 'mint', [operator.address, FUNDS]);
      await send(chain, operator, token, 'approve', [staking.address, FUNDS]);
    }
  });
  after(() => anvil?.stop());
  // Every test starts from the freshly deployed contracts.
  beforeEach(async () => {
    snapshot = await chain.testClient.snapshot();
  });
  afterEach(() => chain.testClient.revert({ id: snapshot }));

  const stake = (operator, amount) => send(chain, operator, staking, 'stake', [amount]);
  const requestUnstake = (operator, amount) => send(chain, operator, staking, 'requestUnstake', [amount]);
  const withdraw = (operator) => send(chain, operator, staking, 'withdraw', []);
  const slash = (operator, amount, reason, from = admin) =>
    send(chain, from, staking, 'slash', [operator.address, amount, reason]);
  const stakeOf = (operator) => read(chain, staking, 'stakeOf', [operator.address]);
  const pendingOf = (operator) => read(chain, staking, 'pendingOf', [operator.address]);
  const balanceOf = (account) => read(chain, token, 'balanceOf', [account.address ?? account]);
  const eventOf = (receipt, eventName) => {
    const events = parseEventLogs({ abi: staking.abi, logs: receipt.logs, eventName });
    assert.equal(events.length, 1, `one ${eventName} event`);
    return events[0].args;
  };
  const blockTime = async ({ blockNumber }) => (await chain.publicClient.getBlock({ blockNumber })).timestamp;
  /** Mines an empty block at `timestamp`; calls then run against it. */
  const mineAt = async (timestamp) => {
    await chain.testClient.setNextBlockTimestamp({ timestamp });
    await chain.testClient.mine({ blocks: 1 });
  };

  /** The custom error a call reverts with, with its arguments. */
  async function revertError(from, functionName, args) {
    try {
      await chain.publicClient.simulateContract({
        address: staking.address,
        abi: staking.abi,
        functionName,
        args,
        account: from,
      });
    } catch (error) {
      const reverted = error.walk((cause) => cause.name === 'ContractFunctionRevertedError');
      if (reverted?.data?.errorName) return { name: reverted.data.errorName, args: reverted.data.args ?? [] };
      throw error;
    }
    throw new Error(`${functionName} did not revert`);
  }

  it('is deployed with the token, cooldown and roles it was given, the admin as treasury', async () => {
    assert.equal(await read(chain, staking, 'token'), token.address);
    assert.equal(await read(chain, staking, 'cooldown'), COOLDOWN);
    assert.equal(await read(chain, staking, 'treasury'), admin.address);
    const slasherRole = await read(chain, staking, 'SLASHER_ROLE');
    const adminRole = await read(chain, staking, 'DEFAULT_ADMIN_ROLE');
    assert.equal(await read(chain, staking, 'hasRole', [slasherRole, admin.address]), true);
    assert.equal(await read(chain, staking, 'hasRole', [adminRole, admin.address]), true);
    assert.equal(await read(chain, staking, 'hasRole', [slasherRole, mallory.address]), false);
  });

  it('refuses a zero token or admin at deployment', async () => {
    await assert.rejects(deploy(chain, 'NodeStaking', [zeroAddress, COOLDOWN, admin.address]));
    await assert.rejects(deploy(chain, 'NodeStaking', [token.address, COOLDOWN, zeroAddress]));
  });

  it('pulls staked tokens and adds them to the active stake', async () => {
    const first = await stake(alice, 100n);
    assert.deepEqual(eventOf(first, 'Staked'), { operator: alice.address, amount: 100n, total: 100n });
    const second = await stake(alice, 50n);
    assert.deepEqual(eventOf(second, 'Staked'), { operator: alice.address, amount: 50n, total: 150n });

    assert.equal(await stakeOf(alice), 150n);
    assert.equal(await stakeOf(bob), 0n);
    assert.equal(await balanceOf(alice), FUNDS - 150n);
    assert.equal(await balanceOf(staking.address), 150n);
    assert.deepEqual(await pendingOf(alice), [0n, 0n]);
  });

  it('refuses a stake beyond the allowance or the balance', async () => {
    // The token reverts, so its errors are needed to decode the reason.
    const tokenErrors = token.abi.filter((item) => item.type === 'error');
    const withTokenErrors = { ...staking, abi: [...staking.abi, ...tokenErrors] };
    await send(chain, admin, token, 'mint', [carol.address, 10n]);
    assert.equal(await revertReason(chain, carol, withTokenErrors, 'stake', [10n]), 'ERC20InsufficientAllowance');
    await send(chain, carol, token, 'approve', [staking.address, 20n]);
    assert.equal(await revertReason(chain, carol, withTokenErrors, 'stake', [11n]), 'ERC20InsufficientBalance');
    assert.equal(await stakeOf(carol), 0n);
  });

  it('refuses zero amounts', async () => {
    await stake(alice, 100n);
    assert.equal(await revertReason(chain, alice, staking, 'stake', [0n]), 'ZeroAmount');
    assert.equal(await revertReason(chain, alice, staking, 'requestUnstake', [0n]), 'ZeroAmount');
    assert.equal(await revertReason(chain, admin, staking, 'slash', [alice.address, 0n, 'none']), 'ZeroAmount');
  });

  it('lowers the active stake at once on an unstake request and parks the amount for the cooldown', async () => {
    await stake(alice, 100n);
    const receipt = await requestUnstake(alice, 30n);
    const availableAt = (await blockTime(receipt)) + COOLDOWN;

    assert.deepEqual(eventOf(receipt, 'UnstakeRequested'), { operator: alice.address, amount: 30n, availableAt });
    assert.equal(await stakeOf(alice), 70n);
    assert.deepEqual(await pendingOf(alice), [30n, availableAt]);
    // Nothing leaves the contract until the withdrawal.
    assert.equal(await balanceOf(staking.address), 100n);
  });

  it('refuses an unstake request above the active stake, even with tokens pending', async () => {
    await stake(alice, 100n);
    assert.deepEqual(await revertError(alice, 'requestUnstake', [101n]), {
      name: 'InsufficientStake',
      args: [100n, 101n],
    });
    await requestUnstake(alice, 60n);
    assert.deepEqual(await revertError(alice, 'requestUnstake', [41n]), {
      name: 'InsufficientStake',
      args: [40n, 41n],
    });
    assert.deepEqual(await revertError(bob, 'requestUnstake', [1n]), { name: 'InsufficientStake', args: [0n, 1n] });
    await requestUnstake(alice, 40n);
    assert.equal(await stakeOf(alice), 0n);
  });

  it('adds a new request to the pending amount and restarts the cooldown for all of it', async () => {
    await stake(alice, 100n);
    const first = await requestUnstake(alice, 30n);
    const firstAvailableAt = (await blockTime(first)) + COOLDOWN;

    await chain.testClient.increaseTime({ seconds: 3600 });
    const second = await requestUnstake(alice, 20n);
    const secondAvailableAt = (await blockTime(second)) + COOLDOWN;
    assert.ok(secondAvailableAt >= firstAvailableAt + 3600n);
    assert.deepEqual(eventOf(second, 'UnstakeRequested'), {
      operator: alice.address,
      amount: 20n,
      availableAt: secondAvailableAt,
    });
    assert.deepEqual(await pendingOf(alice), [50n, secondAvailableAt]);

    // The first request's time has come, but it now waits with the second.
    await mineAt(firstAvailableAt);
    assert.deepEqual(await revertError(alice, 'withdraw', []), {
      name: 'CooldownNotOver',
      args: [secondAvailableAt],
    });
  });

  it('refuses a withdrawal before the cooldown is over and pays exactly the pending amount after', async () => {
    await stake(alice, 100n);
    const request = await requestUnstake(alice, 40n);
    const availableAt = (await blockTime(request)) + COOLDOWN;

    assert.deepEqual(await revertError(alice, 'withdraw', []), { name: 'CooldownNotOver', args: [availableAt] });
    await chain.testClient.increaseTime({ seconds: Number(COOLDOWN) - 60 });
    await chain.testClient.mine({ blocks: 1 });
    assert.deepEqual(await revertError(alice, 'withdraw', []), { name: 'CooldownNotOver', args: [availableAt] });
    await mineAt(availableAt - 1n);
    assert.deepEqual(await revertError(alice, 'withdraw', []), { name: 'CooldownNotOver', args: [availableAt] });

    await mineAt(availableAt);
    const before = await balanceOf(alice);
    const receipt = await withdraw(alice);
    assert.deepEqual(eventOf(receipt, 'Withdrawn'), { operator: alice.address, amount: 40n });
    assert.equal(await balanceOf(alice), before + 40n);
    assert.equal(await balanceOf(staking.address), 60n);
    assert.deepEqual(await pendingOf(alice), [0n, 0n]);
    assert.equal(await stakeOf(alice), 60n);

    assert.equal(await revertReason(chain, alice, staking, 'withdraw', []), 'NothingPending');
  });

  it('refuses a withdrawal when nothing is pending', async () => {
    assert.equal(await revertReason(chain, alice, staking, 'withdraw', []), 'NothingPending');
    await stake(alice, 100n);
    await chain.testClient.increaseTime({ seconds: Number(COOLDOWN) * 2 });
    await chain.testClient.mine({ blocks: 1 });
    assert.equal(await revertReason(chain, alice, staking, 'withdraw', []), 'NothingPending');
  });

  it('lets only a slasher slash', async () => {
    await stake(alice, 100n);
    for (const from of [mallory, alice, relayer]) {
      assert.equal(
        await revertReason(chain, from, staking, 'slash', [alice.address, 1n, 'no']),
        'AccessControlUnauthorizedAccount',
      );
    }
    const slasherRole = await read(chain, staking, 'SLASHER_ROLE');
    await send(chain, admin, staking, 'grantRole', [slasherRole, relayer.address]);
    await slash(alice, 1n, 'double signing', relayer);
    assert.equal(await stakeOf(alice), 99n);
  });

  it('slashes the active stake first, then the pending amount, and sends it all to the treasury', async () => {
    await stake(alice, 100n);
    const request = await requestUnstake(alice, 30n);
    const availableAt = (await blockTime(request)) + COOLDOWN;

    const first = await slash(alice, 50n, 'missed heartbeats');
    assert.deepEqual(eventOf(first, 'Slashed'), { operator: alice.address, amount: 50n, reason: 'missed heartbeats' });
    assert.equal(await stakeOf(alice), 20n);
    assert.deepEqual(await pendingOf(alice), [30n, availableAt]);

    // Past the active stake into the pending amount, which keeps its time.
    const second = await slash(alice, 40n, 'served forged results');
    assert.deepEqual(eventOf(second, 'Slashed'), {
      operator: alice.address,
      amount: 40n,
      reason: 'served forged results',
    });
    assert.equal(await stakeOf(alice), 0n);
    assert.deepEqual(await pendingOf(alice), [10n, availableAt]);

    await slash(alice, 10n, 'the rest');
    assert.deepEqual(await pendingOf(alice), [0n, 0n]);
    assert.equal(await balanceOf(admin), 100n);
    assert.equal(await balanceOf(staking.address), 0n);
    assert.equal(await balanceOf(alice), FUNDS - 100n);
  });

  it('catches an operator who requested an unstake of everything to dodge a slash', async () => {
    await stake(alice, 100n);
    await stake(bob, 100n);
    await requestUnstake(alice, 100n);
    assert.equal(await stakeOf(alice), 0n);

    await slash(alice, 70n, 'equivocation');
    await mineAt((await pendingOf(alice))[1]);
    const receipt = await withdraw(alice);
    assert.deepEqual(eventOf(receipt, 'Withdrawn'), { operator: alice.address, amount: 30n });
    assert.equal(await balanceOf(alice), FUNDS - 70n);
    // Bob's stake is untouched.
    assert.equal(await stakeOf(bob), 100n);
    assert.equal(await balanceOf(staking.address), 100n);
  });

  it('refuses to slash more than the active and pending stake together', async () => {
    await stake(alice, 100n);
    await requestUnstake(alice, 40n);
    assert.deepEqual(await revertError(admin, 'slash', [alice.address, 101n, 'too much']), {
      name: 'InsufficientStake',
      args: [100n, 101n],
    });
    assert.deepEqual(await revertError(admin, 'slash', [bob.address, 1n, 'nothing staked']), {
      name: 'InsufficientStake',
      args: [0n, 1n],
    });
    await slash(alice, 100n, 'everything');
    assert.equal(await stakeOf(alice), 0n);
    assert.deepEqual(await pendingOf(alice), [0n, 0n]);
  });

  it('lets only the admin move the treasury, never to the zero address', async () => {
    await stake(alice, 100n);
    assert.equal(
      await revertReason(chain, mallory, staking, 'setTreasury', [mallory.address]),
      'AccessControlUnauthorizedAccount',
    );
    assert.equal(await revertReason(chain, admin, staking, 'setTreasury', [zeroAddress]), 'ZeroAddress');

    const receipt = await send(chain, admin, staking, 'setTreasury', [carol.address]);
    assert.deepEqual(eventOf(receipt, 'TreasuryUpdated'), { previous: admin.address, treasury: carol.address });
    assert.equal(await read(chain, staking, 'treasury'), carol.address);

    await slash(alice, 25n, 'downtime');
    assert.equal(await balanceOf(carol), 25n);
    assert.equal(await balanceOf(admin), 0n);
  });

  it('lets only the admin change the cooldown, which applies to later requests only', async () => {
    await stake(alice, 100n);
    const early = await requestUnstake(alice, 10n);
    const earlyAvailableAt = (await blockTime(early)) + COOLDOWN;

    assert.equal(
      await revertReason(chain, mallory, staking, 'setCooldown', [0n]),
      'AccessControlUnauthorizedAccount',
    );
    const receipt = await send(chain, admin, staking, 'setCooldown', [3600n]);
    assert.deepEqual(eventOf(receipt, 'CooldownUpdated'), { previous: COOLDOWN, cooldown: 3600n });
    assert.equal(await read(chain, staking, 'cooldown'), 3600n);
    assert.deepEqual(await pendingOf(alice), [10n, earlyAvailableAt]);

    await stake(bob, 5n);
    const bobRequest = await requestUnstake(bob, 5n);
    assert.deepEqual(await pendingOf(bob), [5n, (await blockTime(bobRequest)) + 3600n]);
  });
});
