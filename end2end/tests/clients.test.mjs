// Two clients (docs/decisions/0040): the public pages are taken over by the
// public client, a fraction of the full one; moving between public pages
// stays in the page, and a link to any other page loads that page whole,
// with the full client, which then goes anywhere without reloading.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';
import { PASSWORD } from '../support/accounts.mjs';

const env = withServerAndBrowser({ before, after }, startServer);

/** The wasm modules this document has fetched. */
const modules = (page) =>
  page.evaluate(() =>
    performance
      .getEntriesByType('resource')
      .map((entry) => new URL(entry.name).pathname)
      .filter((path) => path.endsWith('.wasm')),
  );

test('a public page loads the public client; a signed-in page loads the full one', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/`);
  assert.match((await modules(page)).join(), /^\/pkg\/meritree\.[0-9a-f]{16}\.public_bg\.wasm$/);
  // A mark that only survives navigation inside this document.
  await page.evaluate(() => (window.sameDocument = true));

  await page.click('header a[href="/leaderboard"]');
  await page.waitForURL(`${env.server.url}/leaderboard`);
  await page.waitForSelector('main h2:has-text("All time")');
  assert.equal(await page.evaluate(() => window.sameDocument), true, 'public to public stays in the page');

  // The public client has no sign-in page: it loads it whole.
  await page.click('header a[href="/sign-up"]');
  await page.waitForURL(`${env.server.url}/sign-up`);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.evaluate(() => window.sameDocument), undefined, 'a whole page load');
  assert.match((await modules(page)).join(), /^\/pkg\/meritree\.[0-9a-f]{16}_bg\.wasm$/);

  // The full client signs up (wallet code and all) and then moves to
  // public pages without reloading.
  await page.fill('input[name="email"]', 'two-clients@example.com');
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
  await page.evaluate(() => (window.sameDocument = true));
  await page.click('header a[href="/rounds"]');
  await page.waitForURL(`${env.server.url}/rounds`);
  await page.waitForFunction(() => document.title.startsWith('Rounds'));
  assert.equal(await page.evaluate(() => window.sameDocument), true, 'full to public stays in the page');

  // Loaded whole, a public page is the public client's again, signed in.
  await page.reload();
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.match((await modules(page)).join(), /\.public_bg\.wasm$/);
  await page.waitForSelector('[data-testid="header-account"]');
  await page.click('[data-testid="header-account"]');
  await page.waitForURL(`${env.server.url}/account`);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.match((await modules(page)).join(), /^\/pkg\/meritree\.[0-9a-f]{16}_bg\.wasm$/);
  await page.close();
  assert.deepEqual(env.browser.pageErrors, []);
});
