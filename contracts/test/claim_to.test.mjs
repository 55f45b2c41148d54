import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { domainSeparator, hashMessage, parseEventLogs, zeroHash } from 'viem';
import { foundry } from 'viem/chains';
import { createSiweMessage } from 'viem/siwe';
import { startAnvil } from './support/anvil.mjs';
import {
  accounts,
  claimToDomain,
  clients,
  deploy,
  deployRewards,
  read,
  revertReason,
  send,
  signClaimTo,
} from './support/contracts.mjs';

const { updater, relayer, alice, bob, carol, mallory } = accounts;
const HOUR = 3600n;
const ERC1271_MAGIC = '0x1626ba7e';

describe('RewardDistributor.claimTo', () => {
  let anvil;
  let chain;
  let token;
  let distributor;
  let wallet; // an Eip1271Wallet owned by carol
  let tree;
  let snapshot;

  before(async () => {
    anvil = await startAnvil();
    chain = clients(anvil.url);
    ({ token, distributor } = await deployRewards(chain));
    wallet = await deploy(chain, 'Eip1271Wallet', [carol.address]);
    tree = StandardMerkleTree.of(
      [
        [alice.address, '100'],
        [bob.address, '50'],
        [wallet.address, '30'],
      ],
      ['address', 'uint256'],
    );
    await send(chain, updater, distributor, 'proposeRoot', [tree.root, 1n, zeroHash]);
  });
  after(() => anvil?.stop());
  beforeEach(async () => {
    snapshot = await chain.testClient.snapshot();
  });
  afterEach(() => chain.testClient.revert({ id: snapshot }));

  async function latestTimestamp() {
    return (await chain.publicClient.getBlock()).timestamp;
  }

  /**
   * claimTo arguments for `account` (an address in the tree) paying `to`,
   * signed by `signer`; `message` overrides fields of the signed struct.
   */
  async function signedClaimTo({ account, to, signer, deadline, message = {} }) {
    const index = [...tree.entries()].find(([, [address]]) => address === account)[0];
    const cumulativeAmount = BigInt(tree.at(index)[1]);
    deadline ??= (await latestTimestamp()) + HOUR;
    const nonce = await read(chain, distributor, 'nonces', [account]);
    const signature = await signClaimTo(signer, distributor, {
      account,
      to,
      cumulativeAmount,
      nonce,
      deadline,
      ...message,
    });
    return [account, to, cumulativeAmount, tree.getProof(index), deadline, signature];
  }

  const balanceOf = (address) => read(chain, token, 'balanceOf', [address]);

  it('publishes the EIP-712 domain the clients sign against', async () => {
    const domain = claimToDomain(distributor);
    assert.equal(await read(chain, distributor, 'DOMAIN_SEPARATOR'), domainSeparator({ domain }));
    const [, name, version, chainId, verifyingContract] = await read(chain, distributor, 'eip712Domain');
    assert.deepEqual({ name, version, chainId: Number(chainId), verifyingContract }, domain);
  });

  it('pays the address the account signed for', async () => {
    const args = await signedClaimTo({ account: alice.address, to: bob.address, signer: alice });
    const receipt = await send(chain, relayer, distributor, 'claimTo', args);

    assert.equal(await balanceOf(bob.address), 100n);
    assert.equal(await balanceOf(alice.address), 0n);
    assert.equal(await read(chain, distributor, 'claimed', [alice.address]), 100n);
    assert.equal(await read(chain, distributor, 'nonces', [alice.address]), 1n);
    const [event] = parseEventLogs({ abi: distributor.abi, logs: receipt.logs, eventName: 'Claimed' });
    assert.deepEqual(event.args, { account: alice.address, to: bob.address, amount: 100n, cumulativeAmount: 100n });
  });

  it('rejects a signature by anyone but the account', async () => {
    const args = await signedClaimTo({ account: alice.address, to: mallory.address, signer: mallory });
    assert.equal(await revertReason(chain, relayer, distributor, 'claimTo', args), 'InvalidSignature');
  });

  it('rejects a signed claim redirected to another address', async () => {
    const args = await signedClaimTo({ account: alice.address, to: bob.address, signer: alice });
    args[1] = mallory.address;
    assert.equal(await revertReason(chain, relayer, distributor, 'claimTo', args), 'InvalidSignature');
  });

  it('rejects a signature for another nonce', async () => {
    const args = await signedClaimTo({
      account: alice.address,
      to: bob.address,
      signer: alice,
      message: { nonce: 1n },
    });
    assert.equal(await revertReason(chain, relayer, distributor, 'claimTo', args), 'InvalidSignature');
  });

  it('rejects a signature past its deadline', async () => {
    const deadline = (await latestTimestamp()) + 60n;
    const args = await signedClaimTo({ account: alice.address, to: bob.address, signer: alice, deadline });
    await chain.testClient.setNextBlockTimestamp({ timestamp: deadline + 1n });
    await chain.testClient.mine({ blocks: 1 });
    assert.equal(await revertReason(chain, relayer, distributor, 'claimTo', args), 'SignatureExpired');
  });

  it('does not accept the same signature twice', async () => {
    const args = await signedClaimTo({ account: alice.address, to: bob.address, signer: alice });
    await send(chain, relayer, distributor, 'claimTo', args);

    // Even once the account has more to claim, the used nonce is gone.
    const next = StandardMerkleTree.of(
      [
        [alice.address, '500'],
        [bob.address, '50'],
      ],
      ['address', 'uint256'],
    );
    await send(chain, updater, distributor, 'proposeRoot', [next.root, 2n, zeroHash]);
    assert.equal(await revertReason(chain, relayer, distributor, 'claimTo', args), 'InvalidSignature');
  });

  it('is paused with the plain claim', async () => {
    const args = await signedClaimTo({ account: alice.address, to: bob.address, signer: alice });
    await send(chain, accounts.pauser, distributor, 'pause', []);
    assert.equal(await revertReason(chain, relayer, distributor, 'claimTo', args), 'EnforcedPause');
  });

  it('accepts an ERC-1271 contract wallet as the account', async () => {
    const forged = await signedClaimTo({ account: wallet.address, to: mallory.address, signer: mallory });
    assert.equal(await revertReason(chain, relayer, distributor, 'claimTo', forged), 'InvalidSignature');

    const args = await signedClaimTo({ account: wallet.address, to: carol.address, signer: carol });
    await send(chain, relayer, distributor, 'claimTo', args);
    assert.equal(await balanceOf(carol.address), 30n);
    assert.equal(await balanceOf(wallet.address), 0n);
  });
});

describe('Eip1271Wallet', () => {
  let anvil;
  let chain;
  let wallet;

  before(async () => {
    anvil = await startAnvil();
    chain = clients(anvil.url);
    wallet = await deploy(chain, 'Eip1271Wallet', [carol.address]);
  });
  after(() => anvil?.stop());

  const siwe = () =>
    createSiweMessage({
      domain: 'meritree.test',
      uri: 'https://meritree.test/sign-in',
      address: wallet.address,
      chainId: foundry.id,
      nonce: 'abcdefgh12345678',
      version: '1',
    });

  it("accepts its owner's personal_sign signature of a SIWE message", async () => {
    const message = siwe();
    const signature = await carol.signMessage({ message });
    assert.equal(await read(chain, wallet, 'isValidSignature', [hashMessage(message), signature]), ERC1271_MAGIC);
    // What a verifier that knows ERC-1271 (the server, viem) concludes.
    assert.equal(await chain.publicClient.verifyMessage({ address: wallet.address, message, signature }), true);
  });

  it('answers no, without reverting, to any other signature', async () => {
    const message = siwe();
    const hash = hashMessage(message);
    const byMallory = await mallory.signMessage({ message });
    const ofOtherMessage = await carol.signMessage({ message: `${message}\n` });
    for (const signature of [byMallory, ofOtherMessage, '0x', `0x${'00'.repeat(65)}`, byMallory.slice(0, 60)]) {
      assert.equal(await read(chain, wallet, 'isValidSignature', [hash, signature]), '0xffffffff');
    }
    assert.equal(
      await chain.publicClient.verifyMessage({ address: wallet.address, message, signature: byMallory }),
      false,
    );
  });
});
