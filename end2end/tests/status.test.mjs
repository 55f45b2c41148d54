import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';

const env = withServerAndBrowser({ before, after }, startServer);

test('the status page hydrates and re-checks through the server', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/status`);

  assert.equal(await page.textContent('[data-testid="overall"]'), 'up');
  assert.equal(await page.textContent('tr[data-component="Database"] td:nth-child(3)'), 'sqlite');
  const before = Number(await page.getAttribute('[data-testid="checked-at"]', 'data-unix-ms'));
  assert.ok(before > 0);

  const answered = page.waitForResponse((r) => r.url().endsWith('/api/status/check') && r.status() === 200);
  await page.click('[data-testid="recheck"]');
  await answered;
  await page.waitForFunction(
    (prev) => Number(document.querySelector('[data-testid="checked-at"]').dataset.unixMs) > prev,
    before,
  );
  const after = Number(await page.getAttribute('[data-testid="checked-at"]', 'data-unix-ms'));
  assert.ok(after > before, `checked-at ${after} should be after ${before}`);
  assert.equal(await page.textContent('[data-testid="overall"]'), 'up');
  assert.deepEqual(env.browser.pageErrors, []);
});

test('client-side navigation from the landing page reaches the status page', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/`);
  await page.click('main a[href="/status"]');
  await page.waitForSelector('[data-testid="checked-at"]');
  assert.equal(new URL(page.url()).pathname, '/status');
  assert.equal(await page.title(), 'Status · Meritree');
  assert.deepEqual(env.browser.pageErrors, []);
});
