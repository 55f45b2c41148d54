import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';
import { signUp } from '../support/accounts.mjs';

const env = withServerAndBrowser({ before, after }, startServer);

test('a public handle is checked as it is typed and saved once valid', async () => {
  const browser = env.browser;
  const page = await openHydrated(browser, `${env.server.url}/`);
  await signUp(page, env.server.url, 'hana@example.org');

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
