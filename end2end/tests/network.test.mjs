import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';
import { PASSWORD } from '../support/accounts.mjs';

// The node runs its task on the embedded model (SmolLM2 on the CPU), found
// where scripts/setup extracted it.
const modelEnv = Object.fromEntries(
  ['MERITREE_AI__LOCAL__MODELS_DIR', 'XDG_CACHE_HOME', 'HOME']
    .filter((name) => process.env[name])
    .map((name) => [name, process.env[name]]),
);
const env = withServerAndBrowser({ before, after }, () =>
  startServer({ env: { ...modelEnv, MERITREE_CHAIN__EMBEDDED: 'false' } }),
);
// The model is loaded on first use; the first answer waits for it.
const FIRST_ANSWER_MS = 120_000;

/** Registers `email` over the API. */
async function register(email) {
  const response = await fetch(`${env.server.url}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: env.server.url },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(response.status, 201);
}

async function post(path, cookie, body) {
  return fetch(`${env.server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: env.server.url, cookie },
    body: JSON.stringify(body),
  });
}

test('the network dashboard shows a node arrive and its task complete, live', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/network`);
  assert.equal(await page.textContent('[data-testid="active-nodes"]'), '0');
  await page.waitForSelector('[data-testid="no-nodes"]');

  await register('op@example.org');
  await env.server.cli(['admin', 'set-role', '--email', 'op@example.org', '--role', 'node_operator']);
  // A role change ends the account's sessions: sign in again.
  const signedIn = await post('/api/v1/auth/login', '', { email: 'op@example.org', password: PASSWORD });
  assert.equal(signedIn.status, 200);
  const cookie = signedIn.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const created = await post('/api/v1/user/api-keys', cookie, { name: 'node', scopes: ['node'] });
  assert.equal(created.status, 201);
  const { key } = await created.json();

  const node = spawn(process.env.MERITREE_BIN, ['node', '--server', env.server.url, '--name', 'e2e-node'], {
    env: { PATH: process.env.PATH, MERITREE_NODE_API_KEY: key, ...modelEnv },
    stdio: 'ignore',
  });
  try {
    // No reload: the figures and the table follow the socket.
    await page.waitForFunction(
      () => document.querySelector('[data-testid="active-nodes"]')?.textContent === '1',
      null,
      { timeout: 20_000 },
    );
    await page.waitForSelector('[data-testid="nodes"] >> text=e2e-node');

    const submitted = await post('/api/v1/tasks/submit', cookie, {
      idempotency_key: 'e2e-1',
      input: {
        kind: 'chat',
        model: 'smollm2-135m-instruct',
        messages: [{ role: 'user', content: 'Say hello.' }],
        max_tokens: 8,
      },
    });
    assert.equal(submitted.status, 201);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="completed-hour"]')?.textContent === '1',
      null,
      { timeout: FIRST_ANSWER_MS },
    );
    const tallest = await page.$$eval('[data-testid="throughput"] rect', (bars) =>
      Math.max(...bars.map((bar) => Number(bar.getAttribute('height')))),
    );
    assert.ok(tallest > 0, 'the chart shows the completed task');
    assert.deepEqual(env.browser.pageErrors, []);
  } finally {
    node.kill('SIGTERM');
  }
});
