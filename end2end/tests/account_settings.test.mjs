import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { launchBrowser, openHydrated, withServerAndBrowser } from '../support/browser.mjs';
import { currentStep, totpCode } from '../support/totp.mjs';
import { PASSWORD, signUp as signUpAt } from '../support/accounts.mjs';

const env = withServerAndBrowser({ before, after }, startServer);

const signUp = (page, email) => signUpAt(page, env.server.url, email);

const me = (key) =>
  fetch(`${env.server.url}/api/v1/user/me`, { headers: { authorization: `Bearer ${key}` } });

test('API keys: created on the account page, shown once, usable, revoked', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/`);
  await signUp(page, 'gina@example.org');

  await page.fill('[data-testid="api-keys"] input[name="name"]', 'my script');
  await page.click('[data-testid="create-api-key"]');
  const key = (await (await page.waitForSelector('[data-testid="new-api-key"]')).textContent()).trim();
  assert.match(key, /^mt_/);
  await page.waitForSelector('[data-testid="api-key-row"]');
  assert.match(await page.textContent('[data-testid="api-key-row"]'), /my script/);

  const ok = await me(key);
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).email, 'gina@example.org');

  await page.click('[data-testid="revoke-api-key"]');
  await page.waitForSelector('[data-testid="api-key-row"]', { state: 'detached' });
  assert.equal((await me(key)).status, 401);
  assert.deepEqual(env.browser.pageErrors, []);
});

test('two-factor: turned on from the account page, then asked for at sign-in', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/`);
  await signUp(page, 'hana@example.org');

  await page.click('[data-testid="begin-totp"]');
  const secret = (await (await page.waitForSelector('[data-testid="totp-secret"]')).textContent()).trim();
  const step = currentStep();
  await page.fill('[data-testid="two-factor"] input[name="code"]', totpCode(secret, step));
  await page.click('[data-testid="confirm-totp"]');
  await page.waitForFunction(() =>
    document.querySelector('[data-testid="totp-state"]')?.textContent.startsWith('On.'),
  );
  // Its recovery codes are shown once, and stay on screen.
  await page.waitForSelector('[data-testid="recovery-codes"]');
  const codes = await page.$$eval('[data-testid="recovery-codes"] li', (items) =>
    items.map((item) => item.textContent.trim()),
  );
  assert.equal(codes.length, 10);
  assert.ok(codes.every((code) => /^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$/.test(code)), codes.join(' '));

  await page.click('[data-testid="sign-out"]');
  await page.waitForSelector('[data-testid="header-sign-in"]');
  await page.goto(`${env.server.url}/sign-in`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name="email"]', 'hana@example.org');
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  const asked = await page.waitForSelector('[data-testid="server-error"]');
  assert.equal(await asked.getAttribute('data-code'), 'totp_required');

  // The confirming code was spent; the next step's code is accepted (one step of drift).
  await page.fill('input[name="totp_code"]', totpCode(secret, step + 1));
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
  assert.equal(await page.textContent('[data-testid="account-email"]'), 'hana@example.org');
  assert.deepEqual(env.browser.pageErrors, []);
});

test('sessions: another device is listed and signed out from the account page', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/`);
  await signUp(page, 'ivan@example.org');

  const other = await launchBrowser();
  try {
    const phone = await openHydrated(other, `${env.server.url}/sign-in`);
    await phone.fill('input[name="email"]', 'ivan@example.org');
    await phone.fill('input[name="password"]', PASSWORD);
    await phone.click('button[type="submit"]');
    await phone.waitForURL(`${env.server.url}/account`);
  } finally {
    await other.close();
  }

  await page.reload();
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.equal(await page.locator('[data-testid="session-row"]').count(), 2);
  assert.equal(await page.locator('[data-testid="current-session"]').count(), 1);
  await page.click('[data-testid="end-session"]');
  await page.waitForFunction(
    () => document.querySelectorAll('[data-testid="session-row"]').length === 1,
  );

  await page.click('[data-testid="sign-out-everywhere"]');
  await page.waitForSelector('[data-testid="header-sign-in"]');
  await page.goto(`${env.server.url}/account`);
  await page.waitForSelector('[data-testid="signed-out"]');
  assert.deepEqual(env.browser.pageErrors, []);
});
