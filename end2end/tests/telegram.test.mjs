// The Telegram Mini App (/tg). Telegram's script is replaced by a stand-in
// `window.Telegram.WebApp` fed with launch data really signed with a test
// bot's token, exactly as Telegram signs it; the server checks it with the
// same token.
import { after, before, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';

import { startServer } from '../support/server.mjs';
import { withServerAndBrowser } from '../support/browser.mjs';
import { PASSWORD, signUp } from '../support/accounts.mjs';

const BOT_TOKEN = '7000001:browser-test-bot-token';
const TELEGRAM_SCRIPT = 'https://telegram.org/js/telegram-web-app.js';
// Telegram's dark theme, as its clients send it.
const THEME = {
  bg_color: '#17212b',
  text_color: '#f5f5f5',
  hint_color: '#708499',
  link_color: '#6ab3f3',
  button_color: '#5288c1',
  button_text_color: '#ffffff',
  secondary_bg_color: '#232e3c',
};

const env = withServerAndBrowser({ before, after }, () =>
  startServer({ env: { MERITREE_TELEGRAM__BOT_TOKEN: BOT_TOKEN } }),
);
beforeEach(() => env.browser.context.clearCookies());

/** Launch data for Telegram user `id`, issued `age` seconds ago, signed
 * with `token`: HMAC-SHA256 under HMAC-SHA256("WebAppData", token) of the
 * sorted fields, one `key=value` per line. */
function launchData(id, { age = 5, token = BOT_TOKEN } = {}) {
  const fields = {
    auth_date: String(Math.floor(Date.now() / 1000) - age),
    query_id: `AA${Math.random().toString(36).slice(2)}`,
    user: JSON.stringify({ id, first_name: 'Ann', username: `user${id}` }),
  };
  const checkString = Object.keys(fields)
    .sort()
    .map((key) => `${key}=${fields[key]}`)
    .join('\n');
  const secret = createHmac('sha256', 'WebAppData').update(token).digest();
  const hash = createHmac('sha256', secret).update(checkString).digest('hex');
  return new URLSearchParams({ ...fields, hash }).toString();
}

/** What Telegram's script provides, with buttons the test can press. */
function standIn(initData) {
  return `(() => {
    const theme = ${JSON.stringify(THEME)};
    const button = () => ({
      text: '', isVisible: false, handlers: [],
      setText(text) { this.text = text; return this; },
      show() { this.isVisible = true; return this; },
      hide() { this.isVisible = false; return this; },
      onClick(f) { this.handlers.push(f); return this; },
      offClick(f) { this.handlers = this.handlers.filter((h) => h !== f); return this; },
      press() { for (const f of this.handlers) f(); },
    });
    for (const [key, value] of Object.entries(theme)) {
      document.documentElement.style.setProperty('--tg-theme-' + key.replaceAll('_', '-'), value);
    }
    window.Telegram = { WebApp: {
      initData: ${JSON.stringify(initData)}, themeParams: theme, isReady: false, isExpanded: false,
      ready() { this.isReady = true; }, expand() { this.isExpanded = true; },
      MainButton: button(), BackButton: button(),
    } };
  })();`;
}

/** Opens the Mini App as Telegram would, with `initData`. */
async function openMiniApp(initData) {
  const page = await env.browser.context.newPage();
  page.on('pageerror', (err) => env.browser.pageErrors.push(err));
  await page.route(TELEGRAM_SCRIPT, (route) =>
    route.fulfill({ contentType: 'text/javascript', body: standIn(initData) }),
  );
  await page.goto(`${env.server.url}/tg`);
  await page.waitForSelector('body[data-hydrated="true"]');
  return page;
}

const mainButton = (page) => page.evaluate(() => {
  const { text, isVisible } = window.Telegram.WebApp.MainButton;
  return { text, isVisible };
});

const me = (page) => page.evaluate(async () => (await fetch('/api/v1/user/me')).json());

test('a Telegram user opens the Mini App, creates an account with the main button and uses it in Telegram’s colours', async () => {
  const response = await fetch(`${env.server.url}/tg`);
  // Telegram's script is loaded on this page alone, with the page's nonce.
  assert.match(await response.text(), /<script src="https:\/\/telegram\.org\/js\/telegram-web-app\.js" nonce="/);
  assert.doesNotMatch(await (await fetch(`${env.server.url}/`)).text(), /telegram-web-app/);

  const page = await openMiniApp(launchData(4242));
  await page.waitForSelector('[data-testid="tg-not-linked"]');
  assert.deepEqual(
    await page.evaluate(() => [window.Telegram.WebApp.isReady, window.Telegram.WebApp.isExpanded]),
    [true, true],
  );
  assert.deepEqual(await mainButton(page), { text: 'Create my Meritree account', isVisible: true });
  // Telegram's colours, not ours.
  assert.equal(await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor), 'rgb(23, 33, 43)');
  assert.equal(await page.evaluate(() => getComputedStyle(document.querySelector('[data-testid="tg-create"]')).backgroundColor), 'rgb(82, 136, 193)');

  await page.evaluate(() => window.Telegram.WebApp.MainButton.press());
  await page.waitForSelector('[data-testid="tg-linked"]');
  assert.equal((await me(page)).telegram_id, 4242);
  assert.deepEqual(await mainButton(page), { text: 'Open Meritree', isVisible: true });

  // The main button opens the app; Telegram's back button comes back.
  await page.evaluate(() => window.Telegram.WebApp.MainButton.press());
  await page.waitForURL(`${env.server.url}/`);
  assert.equal(await page.evaluate(() => window.Telegram.WebApp.BackButton.isVisible), true);
  await page.evaluate(() => window.Telegram.WebApp.BackButton.press());
  await page.waitForURL(`${env.server.url}/tg`);
  await page.waitForSelector('[data-testid="tg-linked"]');
  await page.close();

  // The next launch signs straight in to the same account.
  await env.browser.context.clearCookies();
  const again = await openMiniApp(launchData(4242));
  await again.waitForSelector('[data-testid="tg-linked"]');
  assert.equal((await me(again)).telegram_id, 4242);
  await again.close();
  assert.deepEqual(env.browser.pageErrors, []);
});

test('tampered, foreign or stale launch data signs nobody in', async () => {
  const good = launchData(5151);
  const tampered = good.replace('user5151', 'user5152');
  const cases = [
    [tampered, 'telegram_data_invalid'],
    [launchData(5151, { token: '7000002:another-bot' }), 'telegram_data_invalid'],
    [launchData(5151, { age: 2 * 60 * 60 }), 'telegram_data_expired'],
  ];
  for (const [initData, code] of cases) {
    const page = await openMiniApp(initData);
    const error = await page.waitForSelector('[data-testid="server-error"]');
    assert.equal(await error.getAttribute('data-code'), code);
    assert.equal(await page.evaluate(async () => (await fetch('/api/v1/user/me')).status), 401);
    assert.equal((await mainButton(page)).isVisible, false);
    await page.close();
  }
  // Outside Telegram, the page says where to open it.
  const outside = await openMiniApp('');
  await outside.waitForSelector('[data-testid="tg-outside"]');
  await outside.close();
  assert.deepEqual(env.browser.pageErrors, []);
});

test('a member with an email account signs in inside the Mini App and links Telegram to it', async () => {
  const signUpPage = await env.browser.context.newPage();
  await signUp(signUpPage, env.server.url, 'tg-member@example.org');
  await signUpPage.close();
  await env.browser.context.clearCookies();

  const page = await openMiniApp(launchData(7777));
  await page.waitForSelector('[data-testid="tg-not-linked"]');
  await page.fill('input[name="email"]', 'tg-member@example.org');
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('form button[type="submit"]');
  await page.click('[data-testid="tg-link"]');
  await page.waitForSelector('[data-testid="tg-linked"]');
  const account = await me(page);
  assert.equal(account.email, 'tg-member@example.org');
  assert.equal(account.telegram_id, 7777);
  await page.close();

  await env.browser.context.clearCookies();
  const again = await openMiniApp(launchData(7777));
  await again.waitForSelector('[data-testid="tg-linked"]');
  assert.equal((await me(again)).email, 'tg-member@example.org');

  // The account page shows the link and can undo it (the password stays).
  await again.goto(`${env.server.url}/account`);
  await again.waitForSelector('body[data-hydrated="true"]');
  assert.match(await again.textContent('[data-testid="account-telegram"]'), /user 7777/);
  await again.click('[data-testid="unlink-telegram"]');
  await again.waitForSelector('[data-testid="account-telegram"]', { state: 'detached' });
  assert.equal((await me(again)).telegram_id, null);
  await again.close();
  assert.deepEqual(env.browser.pageErrors, []);
});
