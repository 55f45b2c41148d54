// Every page at two phone sizes, in the light and the dark theme: no
// horizontal scrolling, touch targets of at least 44 px, and no serious or
// critical accessibility violation found by axe-core. Screenshots of each
// page at each size are kept as test artefacts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startServer } from '../support/server.mjs';
import { withServerAndBrowser } from '../support/browser.mjs';
import { signUp } from '../support/accounts.mjs';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SIZES = [
  { width: 360, height: 740 },
  { width: 390, height: 844 },
];
const ANYONE = [
  '/',
  '/status',
  '/docs/api',
  '/sign-in',
  '/sign-up',
  '/forgot-password',
  '/rounds',
  '/rounds/1',
  '/leaderboard',
  '/search?q=harbour',
  '/network',
];
const MEMBER = ['/account', '/notifications', '/rewards', '/playground', '/submit', '/nodes', '/u/phone'];
const SHOTS = join(process.env.MERITREE_ARTIFACTS ?? join(tmpdir(), 'meritree-artifacts'), 'screenshots');
mkdirSync(SHOTS, { recursive: true });

const env = withServerAndBrowser({ before, after }, startServer);

/** What a phone user would trip over on the page as it is now. */
async function problems(page) {
  return page.evaluate(() => {
    const found = [];
    const root = document.documentElement;
    if (root.scrollWidth > window.innerWidth) {
      const wide = [...document.querySelectorAll('body *')]
        .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 0.5)
        .slice(0, 3)
        .map((el) => `${el.tagName.toLowerCase()}.${el.className}`);
      found.push(`scrolls sideways: ${root.scrollWidth} > ${window.innerWidth} (${wide.join(', ')})`);
    }
    const targets = document.querySelectorAll(
      'button, select, textarea, input:not([type="hidden"]):not([type="checkbox"]):not([type="radio"]), header a, nav a',
    );
    for (const el of targets) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) continue; // not shown
      if (box.height < 44 || box.width < 44) {
        found.push(`small target: ${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 30)}" ${Math.round(box.width)}×${Math.round(box.height)}`);
      }
    }
    return found;
  });
}

async function violations(page) {
  await page.evaluate(AXE);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
}

async function check(page, path, label) {
  const found = [];
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    for (const size of SIZES) {
      await page.setViewportSize(size);
      await page.goto(`${env.server.url}${path}`);
      await page.waitForSelector('body[data-hydrated="true"]');
      // Pages that load their data after hydrating settle first.
      await page.waitForLoadState('networkidle').catch(() => {});
      found.push(...(await problems(page)).map((p) => `${path} ${scheme} ${size.width}: ${p}`));
      if (size === SIZES[0]) {
        found.push(...(await violations(page)).map((v) => `${path} ${scheme}: ${v}`));
      }
      const name = `${label}${path.replace(/[^a-z0-9]+/gi, '_')}-${size.width}x${size.height}-${scheme}.png`;
      await page.screenshot({ path: join(SHOTS, name), fullPage: true });
    }
  }
  return found;
}

test('every public page works on a phone and passes axe in both themes', async () => {
  const page = await env.browser.context.newPage();
  const found = [];
  for (const path of ANYONE) found.push(...(await check(page, path, 'public')));
  assert.deepEqual(found, []);
  await page.close();
  assert.deepEqual(env.browser.pageErrors, []);
});

test("a member's pages work on a phone and pass axe in both themes", async () => {
  const page = await env.browser.context.newPage();
  await signUp(page, env.server.url, 'phone@example.org');
  await page.fill('[data-testid="public-handle"] input[name="handle"]', 'phone');
  await page.click('[data-testid="set-handle"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="public-handle"]')?.textContent?.includes('@phone'));
  const found = [];
  for (const path of MEMBER) found.push(...(await check(page, path, 'member')));
  assert.deepEqual(found, []);
  await page.close();
  assert.deepEqual(env.browser.pageErrors, []);
});
