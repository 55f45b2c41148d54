import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';

// Two-second rounds on the embedded chain, and a settlement pass every second.
const env = withServerAndBrowser({ before, after }, () =>
  startServer({ env: { MERITREE_REWARDS__ROUND_SECS: '2', MERITREE_CHAIN__TICK_SECS: '1' } }),
);

const PASSWORD = 'correct horse battery staple';

test('points settle on chain and the embedded wallet claims them without gas', async () => {
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

  // The public record lists the published rounds with their roots.
  await page.goto(`${env.server.url}/rounds`);
  await page.waitForSelector('[data-testid="round-row"]');
  const published = page.locator('[data-testid="round-row"][data-status="confirmed"] code');
  assert.ok((await published.count()) > 0);
  assert.match(await published.first().textContent(), /^0x[0-9a-f]{64}$/);
  assert.deepEqual(env.browser.pageErrors, []);
});
