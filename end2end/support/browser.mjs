// Debian's Chromium driven by playwright-core (no downloaded browsers).
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'meritree-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  // Any error in the page (a wasm panic included) fails the test.
  const pageErrors = [];
  context.on('page', (page) => page.on('pageerror', (err) => pageErrors.push(err)));
  return {
    context,
    pageErrors,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Opens `url` and waits until the wasm client has hydrated the page. */
export async function openHydrated(browser, url) {
  const page = await browser.context.newPage();
  page.on('pageerror', (err) => browser.pageErrors.push(err));
  await page.goto(url);
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
  return page;
}

/**
 * Registers before/after hooks that start a fresh server and browser for the
 * calling test file; returns an object whose `server` and `browser` are set
 * once the hooks have run.
 */
export function withServerAndBrowser({ before, after }, startServer) {
  const env = {};
  before(async () => {
    env.server = await startServer();
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}
