// The installable app: its manifest and service worker, reading public
// pages offline, and a new release offered as an update. Each test file gets
// its own copy of the built site, since the update test changes it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';
import { signUp } from '../support/accounts.mjs';

const site = mkdtempSync(join(tmpdir(), 'meritree-site-'));
cpSync(process.env.MERITREE_SITE__ROOT, site, { recursive: true });
const env = withServerAndBrowser({ before, after }, () =>
  startServer({ env: { MERITREE_SITE__ROOT: site } }),
);
after(() => rmSync(site, { recursive: true, force: true }));

/** Opens `path` and waits until the service worker controls the page. */
async function openControlled(path) {
  const page = await openHydrated(env.browser, `${env.server.url}${path}`);
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((resolve) =>
        navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }),
      );
    }
  });
  return page;
}

test('Chromium finds the app installable and its service worker controls the page', async () => {
  const page = await openControlled('/');
  const cdp = await env.browser.context.newCDPSession(page);
  const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
  assert.deepEqual(installabilityErrors, []);
  const { appId } = await cdp.send('Page.getAppId');
  assert.equal(appId, `${env.server.url}/`);
  const manifest = await page.evaluate(async () =>
    (await fetch(document.querySelector('link[rel="manifest"]').href)).json(),
  );
  assert.equal(manifest.display, 'standalone');
  // The client's files are named after their content and kept for good
  // (the landing page's is the public client).
  const script = await page.evaluate(() => document.querySelector('link[rel="modulepreload"]').href);
  assert.match(script, /\/pkg\/meritree\.[0-9a-f]{16}\.public\.js$/);
  const cached = await fetch(script);
  assert.equal(cached.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  await page.close();
  assert.deepEqual(env.browser.pageErrors, []);
});

test('offline, a public page visited before opens and hydrates, and the others say the app is offline', async () => {
  const page = await openControlled('/');
  await page.goto(`${env.server.url}/leaderboard`);
  await page.waitForSelector('body[data-hydrated="true"]');
  const heading = await page.textContent('main h1');

  await env.browser.context.setOffline(true);
  try {
    await page.reload();
    await page.waitForSelector('body[data-hydrated="true"]');
    assert.equal(await page.textContent('main h1'), heading);
    // The landing page was kept when the worker was installed.
    await page.goto(`${env.server.url}/`);
    await page.waitForSelector('body[data-hydrated="true"]');
    assert.equal(new URL(page.url()).pathname, '/');
    // A page never visited, and a member's page, which is never kept.
    for (const path of ['/rounds', '/account']) {
      await page.goto(`${env.server.url}${path}`);
      await page.waitForSelector('main h1');
      assert.equal(await page.textContent('main h1'), 'You are offline', path);
    }
  } finally {
    await env.browser.context.setOffline(false);
  }
  // Back online, the network answers again.
  await page.goto(`${env.server.url}/rounds`);
  await page.waitForSelector('body[data-hydrated="true"]');
  assert.notEqual(await page.textContent('main h1'), 'You are offline');
  await page.close();
  assert.deepEqual(env.browser.pageErrors, []);
});

test('a new release is offered on the next visit and taken on "Reload"', async () => {
  const page = await openControlled('/');
  const first = await page.evaluate(async () => (await navigator.serviceWorker.ready).active.scriptURL);
  // A release changes the worker's script (it names the new bundle).
  appendFileSync(join(site, 'sw.js'), '\n// the next release\n');
  await page.goto(`${env.server.url}/leaderboard`);
  await page.waitForSelector('#update-available', { timeout: 30_000 });
  assert.match(await page.textContent('#update-available'), /A new version of Meritree is ready/);
  const reloaded = page.waitForEvent('load');
  await page.click('#update-available button');
  await reloaded;
  await page.waitForSelector('body[data-hydrated="true"]');
  const state = await page.evaluate(async () => {
    const registration = await navigator.serviceWorker.ready;
    return { waiting: registration.waiting !== null, script: registration.active.scriptURL };
  });
  assert.deepEqual(state, { waiting: false, script: first });
  assert.equal(await page.$('#update-available'), null);
  await page.close();
  assert.deepEqual(env.browser.pageErrors, []);
});

test('a page running an older client than the server serves is told to reload', async () => {
  const page = await env.browser.context.newPage();
  page.on('pageerror', (err) => env.browser.pageErrors.push(err));
  // The page as an older release rendered it: its preloaded script, which
  // names the release, carries another hash.
  await page.addInitScript(() => {
    new MutationObserver((_, observer) => {
      const preload = document.querySelector('link[rel="modulepreload"]');
      if (preload) {
        preload.setAttribute('href', preload.getAttribute('href').replace(/\.[0-9a-f]{16}(\.public)?\.js$/, '.0000000000000000$1.js'));
        observer.disconnect();
      }
    }).observe(document, { childList: true, subtree: true });
  });
  await page.goto(`${env.server.url}/leaderboard`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.waitForSelector('[data-testid="client-outdated"]');
  assert.match(await page.textContent('[data-testid="client-outdated"]'), /reload this page/);
  const reloaded = page.waitForEvent('load');
  await page.click('[data-testid="client-outdated"] button');
  await reloaded;
  await page.close();

  // The release the server serves hears nothing of the kind.
  const current = await openControlled('/leaderboard');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(await current.$('[data-testid="client-outdated"]'), null);
  await current.close();
  assert.deepEqual(env.browser.pageErrors, []);
});

test('a submission made offline waits on the device and reaches the server once when the connection returns', async () => {
  const page = await openControlled('/');
  await signUp(page, env.server.url, 'ada@example.org');
  await page.fill('[data-testid="public-handle"] input[name="handle"]', 'ada');
  await page.click('[data-testid="set-handle"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="public-handle"]')?.textContent?.includes('@ada'));
  await page.goto(`${env.server.url}/submit`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('[data-testid="work-title"]', 'Written on the train');
  await page.fill('[data-testid="work-body"]', 'The tunnel took the signal; the words stayed.');

  await env.browser.context.setOffline(true);
  try {
    await page.click('[data-testid="submit-work"]');
    await page.waitForSelector('[data-testid="queued-offline"]');
    await page.waitForSelector('#outbox[data-state="outbox-waiting"]');
    assert.match(await page.textContent('#outbox'), /1 submission waits/);
    // Sent again while still offline: kept twice, with one idempotency key.
    await page.click('[data-testid="submit-work"]');
    await page.waitForFunction(() => /2 submissions wait/.test(document.querySelector('#outbox')?.textContent));
    const member = await (await fetch(`${env.server.url}/api/v1/members/ada`)).json();
    assert.equal(member.submissions.length, 0, 'nothing reached the server while offline');
  } finally {
    await env.browser.context.setOffline(false);
  }
  await page.waitForSelector('#outbox[data-state="outbox-sent"] a', { timeout: 30_000 });
  const link = await page.getAttribute('#outbox a', 'href');
  assert.match(link, /^\/s\/[0-9a-f-]+$/);
  // Both copies were sent; the server kept one.
  await page.waitForSelector('#outbox[data-waiting="0"]', { timeout: 30_000 });
  const member = await (await fetch(`${env.server.url}/api/v1/members/ada`)).json();
  assert.deepEqual(member.submissions.map((entry) => `/s/${entry.id}`), [link]);
  await page.close();
  assert.deepEqual(env.browser.pageErrors, []);
});

test('notification settings and "mark all read" made offline reach the server when the connection returns', async () => {
  const page = await openControlled('/');
  await signUp(page, env.server.url, 'grace@example.org');
  const api = (path) =>
    page.evaluate((path) => fetch(path).then((response) => response.json()), path);
  // A new API key is a security notice: one unread.
  const created = await page.evaluate(() =>
    fetch('/api/v1/user/api-keys', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'laptop' }),
    }).then((response) => response.status),
  );
  assert.equal(created, 201);
  await page.goto(`${env.server.url}/notifications`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.waitForSelector('[data-testid="mark-all-read"]');
  await page.waitForSelector('[data-testid="notification-preferences"] input[name="round_result"]:checked');

  await env.browser.context.setOffline(true);
  try {
    await page.uncheck('[data-testid="notification-preferences"] input[name="round_result"]');
    await page.click('[data-testid="save-preferences"]');
    await page.waitForSelector('[data-testid="notification-preferences"] [data-testid="queued-offline"]');
    // The form stays as the member set it.
    assert.equal(await page.isChecked('[data-testid="notification-preferences"] input[name="round_result"]'), false);
    await page.click('[data-testid="mark-all-read"]');
    await page.waitForFunction(() => /2 changes wait/.test(document.querySelector('#outbox')?.textContent));
  } finally {
    await env.browser.context.setOffline(false);
  }
  await page.waitForSelector('#outbox[data-waiting="0"]', { timeout: 30_000 });
  assert.equal(await page.getAttribute('#outbox', 'data-state'), 'outbox-sent');
  assert.deepEqual((await api('/api/v1/user/notification-preferences')).muted, ['round_result']);
  assert.equal((await api('/api/v1/user/notifications')).unread, 0);
  await page.close();
  assert.deepEqual(env.browser.pageErrors, []);
});
