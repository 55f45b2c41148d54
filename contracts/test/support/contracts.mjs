// Deploys the committed artifacts (what the server embeds, not a fresh
// compile) to an anvil and hands out viem clients for named dev accounts.
import { readFileSync } from 'node:fs';
import { createPublicClient, createTestClient, createWalletClient, getAddress, http, parseEther } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { foundry } from 'viem/chains';

const DEV_MNEMONIC = 'test test test test test test test test test test test junk';

export function artifact(name) {
  return JSON.parse(readFileSync(new URL(`../../artifacts/${name}.json`, import.meta.url), 'utf8'));
}

/** Anvil's funded dev accounts, by role in the tests. */
export const accounts = Object.fromEntries(
  ['admin', 'updater', 'pauser', 'relayer', 'alice', 'bob', 'carol', 'mallory', 'guardian'].map((name, addressIndex) => [
    name,
    mnemonicToAccount(DEV_MNEMONIC, { addressIndex }),
  ]),
);

export function clients(url) {
  const transport = http(url);
  const publicClient = createPublicClient({ chain: foundry, transport });
  const testClient = createTestClient({ chain: foundry, mode: 'anvil', transport });
  const wallet = (account) => createWalletClient({ chain: foundry, transport, account });
  return { publicClient, testClient, wallet };
}

export async function deploy({ publicClient, wallet }, name, args, from = accounts.admin) {
  const { abi, bytecode } = artifact(name);
  const hash = await wallet(from).deployContract({ abi, bytecode, args });
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`deploying ${name} failed`);
  return { address: getAddress(receipt.contractAddress), abi };
}

export const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';

/**
 * A reward token and a distributor holding `funding` of it, with the roles
 * split over separate accounts as in production. `timelock` is the root
 * delay in seconds (zero: roots are claimable once proposed); `legacy` the
 * distributor it replaces; `version: 1` deploys the earlier distributor.
 */
export async function deployRewards(
  chain,
  { funding = parseEther('1000000'), timelock = 0n, legacy = ZERO_ADDRESS, version = 2, token: existing } = {},
) {
  const { admin, updater, pauser, guardian } = accounts;
  const token = existing ?? (await deploy(chain, 'RewardToken', ['Meritree Reward', 'MRT', admin.address]));
  const roles = [admin.address, updater.address, pauser.address];
  const distributor =
    version === 1
      ? await deploy(chain, 'RewardDistributorV1', [token.address, ...roles])
      : await deploy(chain, 'RewardDistributor', [token.address, ...roles, guardian.address, timelock, legacy]);
  await send(chain, admin, token, 'mint', [distributor.address, funding]);
  return { token, distributor };
}

/** Sends a transaction and waits for it; returns the receipt (throws on revert). */
export async function send({ publicClient, wallet }, from, contract, functionName, args) {
  // Simulating first turns a revert into a decoded custom error.
  const { request } = await publicClient.simulateContract({
    address: contract.address,
    abi: contract.abi,
    functionName,
    args,
    account: from,
  });
  const hash = await wallet(from).writeContract(request);
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status !== 'success') throw new Error(`${functionName} reverted`);
  return receipt;
}

export function read({ publicClient }, contract, functionName, args = []) {
  return publicClient.readContract({ address: contract.address, abi: contract.abi, functionName, args });
}

/** Resolves to the custom error name a call reverts with. */
export async function revertReason({ publicClient }, from, contract, functionName, args) {
  try {
    await publicClient.simulateContract({
      address: contract.address,
      abi: contract.abi,
      functionName,
      args,
      account: from,
    });
  } catch (error) {
    const reverted = error.walk((cause) => cause.name === 'ContractFunctionRevertedError');
    if (reverted?.data?.errorName) return reverted.data.errorName;
    throw error;
  }
  throw new Error(`${functionName} did not revert`);
}

/** Signs the EIP-712 ClaimTo that RewardDistributor.claimTo checks. */
export function signClaimTo(signer, distributor, message) {
  return signer.signTypedData({
    domain: claimToDomain(distributor),
    types: {
      ClaimTo: [
        { name: 'account', type: 'address' },
        { name: 'to', type: 'address' },
        { name: 'cumulativeAmount', type: 'uint256' },
        { name: 'nonce', type: 'uint256' },
        { name: 'deadline', type: 'uint256' },
      ],
    },
    primaryType: 'ClaimTo',
    message,
  });
}

export function claimToDomain(distributor) {
  return { name: 'Meritree Rewards', version: '1', chainId: foundry.id, verifyingContract: distributor.address };
}
