import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';
import { PASSWORD, signUp } from '../support/accounts.mjs';
import { totpCode } from '../support/totp.mjs';

const env = withServerAndBrowser({ before, after }, () =>
  startServer({ env: { MERITREE_CHAIN__EMBEDDED: 'false' } }),
);

test('an admin runs the console: providers, spending, the queues, the audit log checked and exported', async () => {
  // A member first: the console is not theirs.
  const member = await openHydrated(env.browser, `${env.server.url}/`);
  await signUp(member, env.server.url, 'mo@example.org');
  await member.goto(`${env.server.url}/admin`);
  await member.waitForSelector('[data-testid="admin-only"]');
  assert.equal(await member.locator('[data-testid="header-admin"]').count(), 0);
  await member.goto(`${env.server.url}/account`);
  await member.waitForSelector('body[data-hydrated="true"]');
  await member.click('[data-testid="sign-out"]');
  await member.waitForSelector('[data-testid="header-sign-in"]');
  await member.close();

  // The operator creates an admin (two-factor on) and credits the member.
  const created = await env.server.cli(['admin', 'create', '--email', 'root@example.org'], {
    MERITREE_ADMIN_PASSWORD: PASSWORD,
  });
  const secret = created.match(/secret: ([A-Z2-7]+)/)[1];
  await env.server.cli([
    'points', 'credit', '--account', 'mo@example.org', '--amount', '25',
    '--reason', 'admin_adjustment', '--key', 'welcome-mo',
  ]);

  const page = await openHydrated(env.browser, `${env.server.url}/sign-in`);
  await page.fill('input[name="email"]', 'root@example.org');
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForSelector('[data-testid="server-error"][data-code="totp_required"]');
  await page.fill('input[name="totp_code"]', totpCode(secret));
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);

  await page.click('[data-testid="header-admin"]');
  await page.waitForURL(`${env.server.url}/admin`);
  await page.waitForSelector('[data-testid="confirm-identity"]');
  await page.waitForSelector('[data-testid="moderation"] >> text=Nothing is waiting.');
  await page.waitForSelector('[data-testid="dead-evaluations"] >> text=Every evaluation is running or done.');
  // The embedded models are the default provider; nothing was spent yet.
  await page.waitForSelector('[data-testid="ai-provider"]');
  await page.waitForSelector('[data-testid="ai-providers"] >> text=No AI requests in this time.');

  // The operator's posting is in the log.
  const entry = page.locator('[data-testid="audit-entry"]');
  assert.equal(await entry.count(), 1);
  assert.match(await entry.textContent(), /cli.*points_posted/);

  // The member is found and disabled, then signing in as them is refused.
  await page.fill('[data-testid="account-search"]', 'mo@');
  await page.press('[data-testid="account-search"]', 'Enter');
  const row = page.locator('[data-testid="account-row"]');
  await row.waitFor();
  assert.equal(await row.count(), 1);
  assert.equal(await row.locator('[data-testid="account-standing"]').textContent(), 'active');
  await row.locator('[data-testid="toggle-disabled"]').click();
  await page.waitForFunction(() =>
    document.querySelector('[data-testid="account-standing"]')?.textContent.startsWith('disabled'));
  const refused = await fetch(`${env.server.url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: env.server.url },
    body: JSON.stringify({ email: 'mo@example.org', password: PASSWORD }),
  });
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, 'account_disabled');

  // Both actions are in the log, and the chain checks out.
  await page.reload();
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="audit-entry"]').length === 2);
  await page.click('[data-testid="verify-audit"]');
  assert.match(await (await page.waitForSelector('[data-testid="audit-intact"]')).textContent(), /^Intact: 2 entries/);

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('[data-testid="export-audit"]'),
  ]);
  const exported = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.deepEqual(exported.map((e) => e.action), ['points_posted', 'account_disabled']);
  assert.deepEqual(env.browser.pageErrors, []);
});
