import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { launchBrowser, openHydrated, withServerAndBrowser } from '../support/browser.mjs';

const env = withServerAndBrowser({ before, after }, startServer);

const PASSWORD = 'correct horse battery staple';

test('sign up with email, sign out, and sign back in', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/sign-up`);

  // The browser applies the server's rules while typing.
  await page.fill('input[name="email"]', 'not-an-email');
  assert.match(await page.textContent('[data-testid="email-error"]'), /email/);
  await page.fill('input[name="email"]', 'Ann@Example.org');
  assert.equal(await page.textContent('[data-testid="email-error"]'), '');
  await page.fill('input[name="password"]', 'short');
  assert.match(await page.textContent('[data-testid="password-error"]'), /at least 10/);
  assert.equal(await page.isDisabled('button[type="submit"]'), true);
  await page.fill('input[name="password"]', PASSWORD);
  assert.equal(await page.textContent('[data-testid="password-error"]'), '');

  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
  assert.equal(await page.textContent('[data-testid="account-email"]'), 'ann@example.org');
  await page.waitForSelector('[data-testid="header-account"]');

  // The session is an HttpOnly cookie: scripts cannot read it.
  assert.equal(await page.evaluate(() => document.cookie), '');
  const cookies = await env.browser.context.cookies();
  assert.ok(cookies.some((c) => c.name === 'mt_access' && c.httpOnly));

  // A reload renders the account on the server from the cookie.
  await page.reload();
  await page.waitForSelector('[data-testid="account-email"]');

  await page.click('[data-testid="sign-out"]');
  await page.waitForURL(`${env.server.url}/`);
  await page.waitForSelector('[data-testid="header-sign-in"]');

  // Signing up again with the same address is refused with the server's code.
  await page.goto(`${env.server.url}/sign-up`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name="email"]', 'ann@example.org');
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  const error = await page.waitForSelector('[data-testid="server-error"]');
  assert.equal(await error.getAttribute('data-code'), 'email_taken');

  await page.goto(`${env.server.url}/sign-in`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name="email"]', 'ann@example.org');
  await page.fill('input[name="password"]', 'wrong password!');
  await page.click('button[type="submit"]');
  const wrong = await page.waitForSelector('[data-testid="server-error"]');
  assert.equal(await wrong.getAttribute('data-code'), 'invalid_credentials');

  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
  assert.equal(await page.textContent('[data-testid="account-email"]'), 'ann@example.org');
  assert.deepEqual(env.browser.pageErrors, []);
});

test('bind an embedded wallet, sign out, and sign back in with the wallet', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/sign-up`);
  await page.fill('input[name="email"]', 'bob@example.org');
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
  assert.equal(await page.textContent('[data-testid="account-wallet"]'), 'none bound');

  // The key is made, sealed and stored in this browser, then bound by a signed SIWE message.
  await page.fill('input[name="wallet_passphrase"]', 'wallet passphrase 42');
  await page.click('[data-testid="create-wallet"]');
  await page.waitForFunction(
    () => document.querySelector('[data-testid="account-wallet"]')?.textContent.startsWith('0x'),
    null,
    { timeout: 60_000 },
  );
  const wallet = await page.textContent('[data-testid="account-wallet"]');
  assert.match(wallet, /^0x[0-9a-fA-F]{40}$/);

  await page.click('[data-testid="sign-out"]');
  await page.waitForURL(`${env.server.url}/`);
  await page.waitForSelector('[data-testid="header-sign-in"]');

  await page.goto(`${env.server.url}/sign-in`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name="wallet_passphrase"]', 'not the passphrase');
  await page.click('[data-testid="wallet-sign-in"]');
  const error = await page.waitForSelector('[data-testid="wallet-error"]', { timeout: 60_000 });
  assert.match(await error.textContent(), /passphrase/);

  await page.fill('input[name="wallet_passphrase"]', 'wallet passphrase 42');
  await page.click('[data-testid="wallet-sign-in"]');
  await page.waitForURL(`${env.server.url}/account`, { timeout: 60_000 });
  assert.equal(await page.textContent('[data-testid="account-email"]'), 'bob@example.org');
  assert.equal(await page.textContent('[data-testid="account-wallet"]'), wallet);
  assert.deepEqual(env.browser.pageErrors, []);
});

test('a wallet backup moves to another browser and signs in there', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/sign-up`);
  await page.fill('input[name="email"]', 'carol@example.org');
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
  await page.fill('input[name="wallet_passphrase"]', 'carol wallet passphrase');
  await page.click('[data-testid="create-wallet"]');
  await page.waitForSelector('[data-testid="export-wallet"]', { timeout: 60_000 });
  const wallet = await page.textContent('[data-testid="account-wallet"]');
  await page.click('[data-testid="export-wallet"]');
  const backup = await (await page.waitForSelector('[data-testid="wallet-backup"]')).inputValue();
  assert.equal(JSON.parse(backup).address, wallet);

  // A second browser profile: no cookies, empty IndexedDB.
  const other = await launchBrowser();
  try {
    const fresh = await openHydrated(other, `${env.server.url}/sign-in`);
    await fresh.click('summary');
    await fresh.fill('textarea[name="wallet_backup"]', backup);
    await fresh.fill('input[name="backup_passphrase"]', 'wrong passphrase!!');
    await fresh.click('[data-testid="import-wallet"]');
    await fresh.waitForSelector('[data-testid="wallet-error"]', { timeout: 60_000 });
    await fresh.fill('input[name="backup_passphrase"]', 'carol wallet passphrase');
    await fresh.click('[data-testid="import-wallet"]');
    await fresh.waitForSelector('[data-testid="imported-wallet"]', { timeout: 60_000 });

    await fresh.fill('input[name="wallet_passphrase"]', 'carol wallet passphrase');
    await fresh.click('[data-testid="wallet-sign-in"]');
    await fresh.waitForURL(`${env.server.url}/account`, { timeout: 60_000 });
    assert.equal(await fresh.textContent('[data-testid="account-email"]'), 'carol@example.org');
    assert.deepEqual(other.pageErrors, []);
  } finally {
    await other.close();
  }
});
