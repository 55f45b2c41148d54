import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { createPublicClient, erc20Abi, http } from 'viem';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';
import { installInjectedWallet } from '../support/injected_wallet.mjs';

// Two-second rounds on the embedded chain, and a settlement pass every second.
const env = withServerAndBrowser({ before, after }, () =>
  startServer({ env: { MERITREE_REWARDS__ROUND_SECS: '2', MERITREE_CHAIN__TICK_SECS: '1' } }),
);

const PASSWORD = 'correct horse battery staple';
// anvil's well-known development accounts #3, #4 (its key) and #5.
const RECIPIENT_A = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
const EXTENSION_KEY = '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a';
const RECIPIENT_B = '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc';

async function signUp(page, email) {
  await page.goto(`${env.server.url}/sign-up`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
}

async function credit(email, amount, key) {
  // Work scored elsewhere lands as points (here: an operator's posting).
  await env.server.cli([
    'points', 'credit', '--account', email, '--amount', String(amount),
    '--reason', 'task_reward', '--key', key,
  ]);
}

/** Reloads /rewards until the round has closed and its root is published. */
async function waitForClaimable(page, text) {
  for (let i = 0; ; i++) {
    await page.goto(`${env.server.url}/rewards`);
    await page.waitForSelector('body[data-hydrated="true"]');
    const shown = await page.$('[data-testid="claimable"]');
    if (shown && (await shown.textContent()) === text) return;
    assert.ok(i < 60, `${text} was not claimable within a minute`);
    await page.waitForTimeout(1000);
  }
}

/** Records every status the claim line shows, so a test sees it move live. */
async function recordClaimStatuses(page) {
  await page.evaluate(() => {
    window.claimStatuses = [];
    new MutationObserver(() => {
      const status = document.querySelector('[data-testid="claim-status"]')?.dataset.status;
      if (status && window.claimStatuses.at(-1) !== status) window.claimStatuses.push(status);
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
}

async function waitForConfirmedClaim(page) {
  await page.waitForSelector('[data-testid="claim-status"][data-status="confirmed"]', { timeout: 60_000 });
  const statuses = await page.evaluate(() => window.claimStatuses);
  assert.notEqual(statuses[0], 'confirmed', `the claim was never shown pending: ${statuses}`);
  assert.equal(statuses.at(-1), 'confirmed');
  // The numbers are read again once the claim is final.
  await page.waitForFunction(
    () => document.querySelector('[data-testid="claimable"]')?.textContent === '0 MRT',
    null,
    { timeout: 30_000 },
  );
}

async function tokenBalance(page, address) {
  const chain = env.server.log
    .map((line) => { try { return JSON.parse(line); } catch { return {}; } })
    .find((event) => event.message === 'local anvil chain started');
  const client = createPublicClient({ transport: http(chain.url) });
  return client.readContract({
    address: (await page.textContent('[data-testid="token-address"]')).trim(),
    abi: erc20Abi,
    functionName: 'balanceOf',
    args: [address],
  });
}

test('points settle on chain; the embedded wallet claims them without gas, then to another address', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/sign-up`);
  await signUp(page, 'rosa@example.org');
  await page.fill('input[name="wallet_passphrase"]', 'rosa wallet passphrase');
  await page.click('[data-testid="create-wallet"]');
  await page.waitForSelector('[data-testid="export-wallet"]', { timeout: 60_000 });

  await credit('rosa@example.org', 12, 'task:42');
  await waitForClaimable(page, '12 MRT');
  assert.equal(await page.textContent('[data-testid="token-balance"]'), '0 MRT');
  assert.equal(await page.locator('[data-testid="settlement-row"]').count(), 1);
  assert.match(await page.textContent('[data-testid="settled-total"]'), /^12 MRT after round \d+ \((closing|published|confirmed)\)$/);

  // Claim: the platform's relayer sends it; the page follows it to confirmed.
  await recordClaimStatuses(page);
  await page.click('[data-testid="claim"]');
  await waitForConfirmedClaim(page);
  assert.equal(await page.textContent('[data-testid="token-balance"]'), '12 MRT');

  // More points, a later round: this time paid to another address, with the
  // embedded wallet's EIP-712 signature as the permission.
  await credit('rosa@example.org', 5, 'task:43');
  await waitForClaimable(page, '5 MRT');
  await page.click('summary:has-text("Send to another address")');
  await page.fill('input[name="claim_to"]', RECIPIENT_A);
  await page.fill('input[name="claim_to_passphrase"]', 'rosa wallet passphrase');
  await recordClaimStatuses(page);
  await page.click('[data-testid="claim-to"]');
  await waitForConfirmedClaim(page);
  assert.equal(await page.textContent('[data-testid="token-balance"]'), '12 MRT');
  assert.equal(await tokenBalance(page, RECIPIENT_A), 5n * 10n ** 18n);

  // The public record lists the published rounds with their roots and the
  // transactions that published them.
  await page.goto(`${env.server.url}/rounds`);
  await page.waitForSelector('[data-testid="round-row"]');
  const published = page.locator('[data-testid="round-row"][data-status="confirmed"]');
  assert.ok((await published.count()) >= 2);
  assert.match(await published.first().locator('[data-testid="round-root"]').textContent(), /^0x[0-9a-f]{64}$/);
  assert.match(await published.first().locator('[data-testid="round-publish-tx"]').textContent(), /^0x[0-9a-f]{64}$/);
  const round = await published.first().getAttribute('data-round');
  const exported = await (await fetch(`${env.server.url}/api/v1/rounds/${round}/export`)).json();
  assert.equal(exported.root, await published.first().locator('[data-testid="round-root"]').textContent());
  assert.deepEqual(env.browser.pageErrors, []);
});

test("an extension wallet's EIP-712 signature sends its rewards to another address", async () => {
  const wallet = await installInjectedWallet(env.browser.context, EXTENSION_KEY);
  const page = await openHydrated(env.browser, `${env.server.url}/account`);
  await page.click('[data-testid="sign-out"]');
  await page.waitForSelector('[data-testid="header-sign-in"]');
  await signUp(page, 'jonas@example.org');
  await page.click('[data-testid="injected-wallet"]');
  await page.waitForFunction(
    (address) => document.querySelector('[data-testid="account-wallet"]')?.textContent === address,
    wallet.address,
  );

  await credit('jonas@example.org', 7, 'task:44');
  await waitForClaimable(page, '7 MRT');
  await page.click('summary:has-text("Send to another address")');
  await page.fill('input[name="claim_to"]', RECIPIENT_B);
  await recordClaimStatuses(page);
  await page.click('[data-testid="injected-wallet"]:has-text("Sign with Test Wallet")');
  await waitForConfirmedClaim(page);
  assert.ok(wallet.requests.includes('eth_signTypedData_v4'));
  assert.equal(await tokenBalance(page, RECIPIENT_B), 7n * 10n ** 18n);
  assert.equal(await tokenBalance(page, wallet.address), 0n);
  assert.deepEqual(env.browser.pageErrors, []);
});
