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

  // The server's button is ready: a page that hydrated kept whatever it was sent.
  assert.equal(await page.textContent('[data-testid="recheck"]'), 'Check again');
  assert.ok(await page.isEnabled('[data-testid="recheck"]'), 'the "Check again" button is disabled');
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

test('the API reference page shows every operation of the OpenAPI document, loading nothing from elsewhere', async () => {
  const document = await (await fetch(`${env.server.url}/api/v1/openapi.json`)).json();
  const operations = Object.values(document.paths).flatMap((item) => Object.keys(item));

  const origins = new Set();
  const seen = (request) => origins.add(new URL(request.url()).origin);
  env.browser.context.on('request', seen);
  const page = await openHydrated(env.browser, `${env.server.url}/docs/api`);
  env.browser.context.off('request', seen);
  assert.equal(await page.locator('[data-testid="api-operation"]').count(), operations.length);
  const claim = page.locator('article#create_claim');
  assert.match(await claim.textContent(), /POST\s*\/api\/v1\/user\/claims/);
  assert.match(await claim.textContent(), /application\/json: NewClaim/);
  assert.equal(await page.getAttribute('[data-testid="openapi-link"]', 'href'), '/api/v1/openapi.json');
  assert.deepEqual([...origins], [env.server.url]);
  assert.deepEqual(env.browser.pageErrors, []);
});
