import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';

// No SMTP server is configured: the platform writes each email, link
// included, to its log — what a self-hosted operator without mail sees.
const env = withServerAndBrowser({ before, after }, startServer);

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a brand new passphrase';

/** The newest logged email to `to` whose link opens `page`, as a URL. */
async function emailedLink(to, page) {
  for (let i = 0; i < 100; i++) {
    for (const line of [...env.server.log].reverse()) {
      let event;
      try {
        event = JSON.parse(line);
      } catch {
        continue;
      }
      const fields = event.fields ?? event;
      if (fields.to === to && typeof fields.body === 'string') {
        const match = fields.body.match(new RegExp(`https?://\\S+/${page}\\?token=[A-Za-z0-9_-]+`));
        if (match) return match[0];
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no ${page} link was emailed to ${to}`);
}

test('an address is confirmed by its emailed link, and a forgotten password reset by one', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/sign-up`);
  await page.fill('input[name="email"]', 'ann@example.org');
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
  await page.waitForSelector('[data-testid="email-unverified"]');

  // The link from the email confirms the address on a click.
  await page.goto(await emailedLink('ann@example.org', 'verify-email'));
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.click('[data-testid="verify-email"]');
  await page.waitForSelector('[data-testid="email-verified"]');
  await page.goto(`${env.server.url}/account`);
  await page.waitForSelector('[data-testid="account-email"]');
  assert.equal(await page.$('[data-testid="email-unverified"]'), null);

  // Signed out, Ann forgets her password and asks for a link.
  await page.click('[data-testid="sign-out"]');
  await page.waitForURL(`${env.server.url}/`);
  await page.goto(`${env.server.url}/sign-in`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.click('a[href="/forgot-password"]');
  await page.waitForURL(`${env.server.url}/forgot-password`);
  await page.fill('input[name="email"]', 'ann@example.org');
  await page.click('[data-testid="send-reset-link"]');
  await page.waitForSelector('[data-testid="reset-link-sent"]');

  await page.goto(await emailedLink('ann@example.org', 'reset-password'));
  await page.waitForSelector('body[data-hydrated="true"]');
  // The server's password policy answers in the page.
  await page.fill('input[name="new_password"]', 'short');
  await page.click('[data-testid="reset-password"]');
  const weak = await page.waitForSelector('[data-testid="server-error"]');
  assert.equal(await weak.getAttribute('data-code'), 'weak_password');
  await page.fill('input[name="new_password"]', NEW_PASSWORD);
  await page.click('[data-testid="reset-password"]');
  await page.waitForSelector('[data-testid="password-reset-done"]');

  await page.goto(`${env.server.url}/sign-in`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name="email"]', 'ann@example.org');
  await page.fill('input[name="password"]', NEW_PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
  assert.equal(await page.textContent('[data-testid="account-email"]'), 'ann@example.org');
  assert.deepEqual(env.browser.pageErrors, []);
});
