// A wallet extension double for browser tests: an EIP-1193 provider,
// announced through EIP-6963, whose keys stay in Node. Signing is viem's,
// so the messages the server verifies are what a real wallet library makes.
import { privateKeyToAccount } from 'viem/accounts';
import { hexToString } from 'viem';

export const TEST_WALLET_RDNS = 'org.meritree.test-wallet';

/**
 * Installs the double into every page of `context`. `wallet.reject = true`
 * makes the next requests fail as if the person pressed "Reject" (4001);
 * `wallet.useKey(k)` switches the account it signs with.
 */
export async function installInjectedWallet(context, privateKey, { chainId = 31337 } = {}) {
  const wallet = {
    reject: false,
    requests: [],
    account: privateKeyToAccount(privateKey),
    get address() {
      return this.account.address;
    },
    useKey(key) {
      this.account = privateKeyToAccount(key);
    },
  };

  await context.exposeBinding('__meritreeTestWallet', async (_source, method, params) => {
    wallet.requests.push(method);
    const { account } = wallet;
    if (wallet.reject) return { error: { code: 4001, message: 'User rejected the request.' } };
    switch (method) {
      case 'eth_requestAccounts':
      case 'eth_accounts':
        return { result: [account.address.toLowerCase()] };
      case 'eth_chainId':
        return { result: `0x${chainId.toString(16)}` };
      case 'personal_sign': {
        const [data, address] = params;
        if (address.toLowerCase() !== account.address.toLowerCase()) {
          return { error: { code: 4100, message: 'Unknown account' } };
        }
        // Wallets show the UTF-8 text; the test checks it is a SIWE message.
        if (!hexToString(data).includes('wants you to sign in with your Ethereum account')) {
          return { error: { code: -32602, message: 'not a SIWE message' } };
        }
        return { result: await account.signMessage({ message: { raw: data } }) };
      }
      case 'eth_signTypedData_v4': {
        const [, json] = params;
        const typed = JSON.parse(json);
        const { EIP712Domain, ...types } = typed.types;
        return {
          result: await account.signTypedData({
            domain: typed.domain,
            types,
            primaryType: typed.primaryType,
            message: typed.message,
          }),
        };
      }
      default:
        return { error: { code: 4200, message: `unsupported method ${method}` } };
    }
  });

  await context.addInitScript((rdns) => {
    const provider = {
      async request({ method, params }) {
        const answer = await window.__meritreeTestWallet(method, params ?? []);
        if (answer.error) throw Object.assign(new Error(answer.error.message), answer.error);
        return answer.result;
      },
      on() {},
      removeListener() {},
    };
    const info = Object.freeze({
      uuid: '3f0c1a6e-7d1b-4c5e-9a8f-2b6d4e1c0a9b',
      name: 'Test Wallet',
      icon: 'data:image/svg+xml,%3Csvg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/%3E',
      rdns,
    });
    const announce = () =>
      window.dispatchEvent(
        new CustomEvent('eip6963:announceProvider', { detail: Object.freeze({ info, provider }) }),
      );
    window.addEventListener('eip6963:requestProvider', announce);
    announce();
  }, TEST_WALLET_RDNS);

  return wallet;
}
