import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';

const env = withServerAndBrowser({ before, after }, startServer);

const PASSWORD = 'correct horse battery staple';

async function signUp(page, email) {
  await page.goto(`${env.server.url}/sign-up`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  const outcome = await Promise.race([
    page.waitForURL(`${env.server.url}/account`).then(() => 'account'),
    page.waitForSelector('[data-testid="server-error"]').then((e) => e.getAttribute('data-code')),
  ]);
  assert.equal(outcome, 'account');
}

test('a public handle is checked as it is typed and saved once valid', async () => {
  const browser = env.browser;
  const page = await openHydrated(browser, `${env.server.url}/`);
  await signUp(page, 'hana@example.org');

  const input = '[data-testid="public-handle"] input[name="handle"]';
  await page.fill(input, '7up');
  assert.match(await page.textContent('[data-testid="handle-error"]'), /starts with a letter/);
  assert.equal(await page.isDisabled('[data-testid="set-handle"]'), true);
  await page.fill(input, 'Hana_K');
  assert.equal(await page.textContent('[data-testid="handle-error"]'), '');
  await page.click('[data-testid="set-handle"]');
  await page.waitForFunction(
    () => document.querySelector('[data-testid="public-handle"]')?.textContent?.includes('@hana_k'),
  );
  assert.deepEqual(browser.pageErrors, []);
});
