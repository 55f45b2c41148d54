// The notification centre: the header's count follows new notifications
// live, the centre lists them and marks them read, and a kind turned off
// stops arriving.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';
import { signUp } from '../support/accounts.mjs';

const env = withServerAndBrowser({ before, after }, () => startServer());

const unread = (page) =>
  page.evaluate(() => document.querySelector('[data-testid="unread-count"]')?.textContent ?? '0');

test('a new API key shows up in the header at once, is read in the centre, and security notices can be turned off', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/`);
  await signUp(page, env.server.url, 'bell@example.org');
  // Signing up is a sign-in: one security notice.
  await page.waitForSelector('[data-testid="unread-count"]');
  assert.equal(await unread(page), '1');

  // A key made elsewhere (the API, this session) arrives over the live socket.
  const created = await page.evaluate(async () => {
    const response = await fetch('/api/v1/user/api-keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'from-a-script' }),
    });
    return response.status;
  });
  assert.equal(created, 201);
  await page.waitForFunction(() => document.querySelector('[data-testid="unread-count"]')?.textContent === '2');

  await page.click('[data-testid="header-notifications"]');
  await page.waitForURL(`${env.server.url}/notifications`);
  await page.waitForSelector('[data-testid="notification"]');
  const titles = await page.$$eval('[data-testid="notification"] strong', (items) => items.map((i) => i.textContent));
  assert.deepEqual(titles, ['New API key', 'New sign-in']);
  await page.click('[data-testid="mark-all-read"]');
  await page.waitForSelector('[data-testid="unread-count"]', { state: 'detached' });
  assert.match(await page.textContent('[data-testid="notifications-unread"]'), /^0 unread/);

  // Security notices off: the next key is not announced.
  await page.uncheck('[data-testid="notification-preferences"] input[name="security"]');
  await page.click('[data-testid="save-preferences"]');
  await page.waitForSelector('[data-testid="preferences-saved"]');
  await page.evaluate(() => fetch('/api/v1/user/api-keys', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'quiet' }),
  }));
  await page.reload();
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.$$eval('[data-testid="notification"]', (items) => items.length), 2);
  assert.equal(await page.isChecked('[data-testid="notification-preferences"] input[name="security"]'), false);
  await page.close();
  assert.deepEqual(env.browser.pageErrors, []);
});
