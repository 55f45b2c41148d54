import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { createPublicClient, erc20Abi, http } from 'viem';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';

// Two-second rounds on the embedded chain, and a settlement pass every second.
const env = withServerAndBrowser({ before, after }, () =>
  startServer({ env: { MERITREE_REWARDS__ROUND_SECS: '2', MERITREE_CHAIN__TICK_SECS: '1' } }),
);

const PASSWORD = 'correct horse battery staple';

test('points settle on chain; the embedded wallet claims them without gas, then to another address', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/sign-up`);
  await page.fill('input[name="email"]', 'rosa@example.org');
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
  await page.fill('input[name="wallet_passphrase"]', 'rosa wallet passphrase');
  await page.click('[data-testid="create-wallet"]');
  await page.waitForSelector('[data-testid="export-wallet"]', { timeout: 60_000 });

  // Work scored elsewhere lands as points (here: an operator's posting).
  await env.server.cli([
    'points', 'credit', '--account', 'rosa@example.org', '--amount', '12',
    '--reason', 'task_reward', '--key', 'task:42',
  ]);

  // The round closes, its root is published, and the page shows tokens to claim.
  await page.goto(`${env.server.url}/rewards`);
  await page.waitForSelector('body[data-hydrated="true"]');
  for (let i = 0; !(await page.$('[data-testid="claimable"]')); i++) {
    assert.ok(i < 60, 'no root published within a minute');
    await page.waitForTimeout(1000);
    await page.reload();
    await page.waitForSelector('body[data-hydrated="true"]');
  }
  assert.equal(await page.textContent('[data-testid="claimable"]'), '12 MRT');
  assert.equal(await page.textContent('[data-testid="token-balance"]'), '0 MRT');
  assert.equal(await page.locator('[data-testid="settlement-row"]').count(), 1);

  // Claim: the platform's relayer sends it; the page follows it to confirmed.
  await page.click('[data-testid="claim"]');
  await page.waitForSelector('[data-testid="claim-status"]');
  await page.waitForSelector('[data-testid="claim-status"][data-status="confirmed"]', { timeout: 60_000 });
  await page.waitForFunction(
    () => document.querySelector('[data-testid="token-balance"]')?.textContent === '12 MRT',
    null,
    { timeout: 30_000 },
  );
  assert.equal(await page.textContent('[data-testid="claimable"]'), '0 MRT');

  // More points, a later round: this time paid to another address, with the
  // embedded wallet's EIP-712 signature as the permission.
  await env.server.cli([
    'points', 'credit', '--account', 'rosa@example.org', '--amount', '5',
    '--reason', 'task_reward', '--key', 'task:43',
  ]);
  for (let i = 0; (await page.textContent('[data-testid="claimable"]')) !== '5 MRT'; i++) {
    assert.ok(i < 60, 'the second round was not published within a minute');
    await page.waitForTimeout(1000);
    await page.reload();
    await page.waitForSelector('body[data-hydrated="true"]');
  }
  const recipient = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
  await page.click('summary:has-text("Send to another address")');
  await page.fill('input[name="claim_to"]', recipient);
  await page.fill('input[name="claim_to_passphrase"]', 'rosa wallet passphrase');
  await page.click('[data-testid="claim-to"]');
  await page.waitForSelector('[data-testid="claim-status"][data-status="confirmed"]', { timeout: 60_000 });
  await page.waitForFunction(
    () => document.querySelector('[data-testid="claimable"]')?.textContent === '0 MRT',
    null,
    { timeout: 30_000 },
  );
  assert.equal(await page.textContent('[data-testid="token-balance"]'), '12 MRT');
  const chain = env.server.log
    .map((line) => { try { return JSON.parse(line); } catch { return {}; } })
    .find((event) => event.message === 'local anvil chain started');
  const client = createPublicClient({ transport: http(chain.url) });
  const received = await client.readContract({
    address: (await page.textContent('[data-testid="token-address"]')).trim(),
    abi: erc20Abi,
    functionName: 'balanceOf',
    args: [recipient],
  });
  assert.equal(received, 5n * 10n ** 18n);

  // The public record lists the published rounds with their roots.
  await page.goto(`${env.server.url}/rounds`);
  await page.waitForSelector('[data-testid="round-row"]');
  const published = page.locator('[data-testid="round-row"][data-status="confirmed"] code');
  assert.ok((await published.count()) > 0);
  assert.match(await published.first().textContent(), /^0x[0-9a-f]{64}$/);
  assert.deepEqual(env.browser.pageErrors, []);
});
