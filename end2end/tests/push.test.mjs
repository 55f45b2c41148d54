// Web Push: a member turns pushes on for this browser; a notice is
// encrypted by the server and signed with its VAPID key, taken by a local
// push service that checks and decrypts it, and handed to the browser's
// service worker (DevTools' ServiceWorker.deliverPushMessage, since
// Chromium cannot reach a real push service offline), which shows it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { withServerAndBrowser } from '../support/browser.mjs';
import { signUp } from '../support/accounts.mjs';
import { checkVapid, newSubscription, startPushService } from '../support/push_service.mjs';

let service;
before(async () => {
  service = await startPushService();
});
after(() => service?.close());
const env = withServerAndBrowser({ before, after }, () =>
  startServer({ config: '[push]\nservices = ["127.0.0.1:*"]\nallow_http = true\n' }),
);

const newKey = (page, name) =>
  page.evaluate(
    (name) =>
      fetch('/api/v1/user/api-keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      }).then((response) => response.status),
    name,
  );

test('a notice pushed by the server is decrypted by the push service and shown by the service worker', async () => {
  const origin = env.server.url;
  const browserSide = newSubscription(`${service.origin}/push/e2e`);
  await env.browser.context.grantPermissions(['notifications'], { origin });
  const page = await env.browser.context.newPage();
  page.on('pageerror', (err) => env.browser.pageErrors.push(err));
  // Stands in for Chromium's registration with its push service (out of
  // reach offline): the page gets the subscription the local service takes.
  await page.addInitScript((json) => {
    let current = null;
    const subscription = {
      endpoint: json.endpoint,
      options: null,
      toJSON: () => json,
      unsubscribe: async () => {
        current = null;
        return true;
      },
    };
    PushManager.prototype.subscribe = async function (options) {
      window.pushKeyAsked = Array.from(new Uint8Array(options.applicationServerKey));
      subscription.options = options;
      current = subscription;
      return subscription;
    };
    PushManager.prototype.getSubscription = async () => current;
  }, browserSide.json);

  await page.goto(`${origin}/`);
  await signUp(page, origin, 'push@example.org');
  await page.goto(`${origin}/notifications`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.waitForSelector('[data-testid="push-state"][data-state="off"]');
  await page.click('[data-testid="push-on"]');
  await page.waitForSelector('[data-testid="push-state"][data-state="on"]');
  const serverKey = (await (await fetch(`${origin}/api/v1/push/key`)).json()).public_key;
  assert.deepEqual(await page.evaluate(() => window.pushKeyAsked), Array.from(Buffer.from(serverKey, 'base64url')));

  assert.equal(await newKey(page, 'pushed'), 201);
  const message = await service.message('/push/e2e');
  checkVapid(message.headers, serverKey, service.origin);
  assert.equal(message.headers['content-encoding'], 'aes128gcm');
  const text = browserSide.read(message.body);
  const notice = JSON.parse(text);
  assert.equal(notice.title, 'New API key');
  assert.match(notice.body, /“pushed”/);

  // The push service hands the message to the browser's service worker.
  const cdp = await env.browser.context.newCDPSession(page);
  const registration = new Promise((resolve) =>
    cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
      const ours = registrations.find((r) => r.scopeURL === `${origin}/` && !r.isDeleted);
      if (ours) resolve(ours);
    }),
  );
  await cdp.send('ServiceWorker.enable');
  const { registrationId } = await registration;
  const shownNow = () =>
    page.evaluate(async () =>
      (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({
        title: n.title,
        body: n.body,
        tag: n.tag,
        link: n.data.link,
      })),
    );
  // DevTools does not say whether the worker got it: unshown after 2 s, it
  // is delivered again (its tag makes a second copy replace the first).
  let shown = [];
  for (let i = 0; i < 60 && shown.length === 0; i += 1) {
    if (i % 20 === 0) {
      await cdp.send('ServiceWorker.deliverPushMessage', { origin, registrationId, data: text });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    shown = await shownNow();
  }
  assert.equal(shown.length, 1);
  assert.equal(shown[0].title, 'New API key');
  assert.match(shown[0].body, /“pushed”/);
  assert.equal(shown[0].tag, `meritree-${notice.id}`);
  assert.equal(shown[0].link, '/account');

  // Turned off here: the server sends nothing more to this browser.
  await page.click('[data-testid="push-off"]');
  await page.waitForSelector('[data-testid="push-state"][data-state="off"]');
  assert.equal(await newKey(page, 'quiet'), 201);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.equal(service.received.filter((m) => m.path === '/push/e2e').length, 1);
  await cdp.detach();
  await page.close();
  assert.deepEqual(env.browser.pageErrors, []);
});

// The worker's own side of a change of person: signing out here also ends
// this browser's subscription, and a notification opens only this site.
// Chromium's worker cannot hold a real subscription offline, so its push
// manager is given one that records being ended. (Clicking a notification
// cannot be driven: headless Chromium shows none to click, and an event a
// script dispatches may neither wait nor open a window.)
test('signing out ends the push subscription held by the service worker; a notification links only to this site', async () => {
  const origin = env.server.url;
  const page = await env.browser.context.newPage();
  page.on('pageerror', (err) => env.browser.pageErrors.push(err));
  await page.goto(`${origin}/`);
  await signUp(page, origin, 'push-out@example.org');
  await page.goto(`${origin}/account`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.evaluate(() => navigator.serviceWorker.ready);
  const worker = env.browser.context.serviceWorkers().find((w) => w.url() === `${origin}/sw.js`);
  assert.ok(worker, 'the service worker is running');

  assert.deepEqual(
    await worker.evaluate(() =>
      [
        '/rounds/1?tab=results',
        '/account',
        'https://elsewhere.example/phish',
        '//elsewhere.example/phish',
        'javascript:alert(1)',
        42,
        undefined,
      ].map((link) => sameSite(link)),
    ),
    ['/rounds/1?tab=results', '/account', '/notifications', '/notifications', '/notifications', '/notifications', '/notifications'],
  );

  await worker.evaluate(() => {
    self.endedSubscriptions = 0;
    const subscription = {
      unsubscribe: async () => {
        self.endedSubscriptions += 1;
        return true;
      },
    };
    PushManager.prototype.getSubscription = async () => subscription;
  });
  await page.click('[data-testid="sign-out"]');
  await page.waitForURL(`${origin}/`);
  await page.waitForSelector('[data-testid="header-sign-in"]');
  let ended = 0;
  for (let i = 0; i < 50 && ended === 0; i += 1) {
    ended = await worker.evaluate(() => self.endedSubscriptions);
    if (ended === 0) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(ended, 1);
  await page.close();
  assert.deepEqual(env.browser.pageErrors, []);
});
