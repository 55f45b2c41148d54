import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';
import { installInjectedWallet } from '../support/injected_wallet.mjs';

const env = withServerAndBrowser({ before, after }, startServer);

const PASSWORD = 'correct horse battery staple';
// anvil's well-known development keys #1 and #2.
const KEY_A = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const KEY_B = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a';

async function signUp(page, email) {
  await page.goto(`${env.server.url}/sign-up`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
}

async function signOut(page) {
  await page.click('[data-testid="sign-out"]');
  await page.waitForSelector('[data-testid="header-sign-in"]');
}

test('an extension wallet found through EIP-6963 binds, signs in, and refuses cleanly', async () => {
  const wallet = await installInjectedWallet(env.browser.context, KEY_A);
  const page = await openHydrated(env.browser, `${env.server.url}/sign-in`);

  // A wallet-first account: sign in with the extension, no email needed.
  const button = await page.waitForSelector('[data-testid="injected-wallet"]');
  assert.equal((await button.textContent()).trim(), 'Sign in with Test Wallet');
  await button.click();
  await page.waitForURL(`${env.server.url}/account`);
  assert.equal(await page.textContent('[data-testid="account-wallet"]'), wallet.address);
  assert.equal(await page.textContent('[data-testid="account-email"]'), '—');
  assert.ok(wallet.requests.includes('eth_requestAccounts'));
  assert.ok(wallet.requests.includes('personal_sign'));
  await signOut(page);

  // An email account binds a second key through the extension.
  wallet.useKey(KEY_B);
  await signUp(page, 'erin@example.org');
  await page.click('[data-testid="injected-wallet"]');
  await page.waitForFunction(
    (address) => document.querySelector('[data-testid="account-wallet"]')?.textContent === address,
    wallet.address,
  );
  await signOut(page);

  // Declining in the wallet leaves the person signed out, with a clear message.
  await page.goto(`${env.server.url}/sign-in`);
  await page.waitForSelector('body[data-hydrated="true"]');
  wallet.reject = true;
  await page.click('[data-testid="injected-wallet"]');
  const declined = await page.waitForSelector('[data-testid="wallet-error"]');
  assert.match(await declined.textContent(), /declined/);
  wallet.reject = false;

  await page.click('[data-testid="injected-wallet"]');
  await page.waitForURL(`${env.server.url}/account`);
  assert.equal(await page.textContent('[data-testid="account-email"]'), 'erin@example.org');
  await signOut(page);

  // A wallet bound to one account cannot be bound to another.
  await signUp(page, 'frank@example.org');
  await page.click('[data-testid="injected-wallet"]');
  const taken = await page.waitForSelector('[data-testid="wallet-error"]');
  assert.equal(await taken.getAttribute('data-code'), 'wallet_taken');
  assert.equal(await page.textContent('[data-testid="account-wallet"]'), 'none bound');
  assert.deepEqual(env.browser.pageErrors, []);
});
