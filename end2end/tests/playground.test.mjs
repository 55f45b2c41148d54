import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';

// With no provider keys configured, every preference ends at the embedded
// local model (SmolLM2 on the CPU). The server finds its files where
// scripts/setup extracted them: the directory scripts/lib.sh exports, else
// the default cache directory under HOME.
const modelEnv = Object.fromEntries(
  ['MERITREE_AI__LOCAL__MODELS_DIR', 'XDG_CACHE_HOME', 'HOME']
    .filter((name) => process.env[name])
    .map((name) => [name, process.env[name]]),
);
const env = withServerAndBrowser({ before, after }, () => startServer({ env: modelEnv }));

const PASSWORD = 'correct horse battery staple';
// The model is loaded on first use; the first answer waits for it.
const FIRST_ANSWER_MS = 120_000;

async function signUp(page, email) {
  await page.goto(`${env.server.url}/sign-up`);
  await page.waitForSelector('body[data-hydrated="true"]');
  await page.fill('input[name="email"]', email);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${env.server.url}/account`);
}

/** Records every distinct non-empty length the answer shows, so a test sees it grow. */
async function recordAnswerLengths(page) {
  await page.evaluate(() => {
    window.answerLengths = [];
    new MutationObserver(() => {
      const length = document.querySelector('[data-testid="playground-answer"]')?.textContent.length ?? 0;
      if (length > 0 && window.answerLengths.at(-1) !== length) window.answerLengths.push(length);
    }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

test('a member asks the local model and watches the answer arrive token by token', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/playground`);
  assert.match(await page.textContent('[data-testid="signed-out"]'), /Sign in/);

  await signUp(page, 'ada@example.org');
  await page.click('[data-testid="header-playground"]');
  await page.waitForSelector('[data-testid="playground-prompt"]');
  assert.equal(await page.isChecked('[data-testid="preference-speed"]'), true, 'speed is the default');
  await page.check('[data-testid="preference-speed"]');
  await page.fill('[data-testid="playground-prompt"]', 'Name three colours.');

  await recordAnswerLengths(page);
  await page.click('[data-testid="playground-send"]');
  await page.waitForSelector('[data-testid="playground-answer"][data-status="streaming"]');
  await page.waitForSelector('[data-testid="playground-answer"]:not([data-status="streaming"])', {
    timeout: FIRST_ANSWER_MS,
  });
  const error = await page.$('[data-testid="playground-error"]');
  assert.equal(
    await page.getAttribute('[data-testid="playground-answer"]', 'data-status'),
    'done',
    `the answer failed: ${error && (await error.textContent())}`,
  );

  const text = await page.textContent('[data-testid="playground-answer"]');
  assert.ok(text.trim().length > 0, 'the answer is empty');
  const lengths = await page.evaluate(() => window.answerLengths);
  assert.ok(lengths.length >= 2, `the answer did not grow while streaming: lengths ${lengths}`);
  assert.equal(lengths.at(-1), text.length);

  const summary = await page.textContent('[data-testid="playground-summary"]');
  const parts = summary.match(
    /^Answered by local\/smollm2-135m-instruct · (\d+) input tokens · (\d+) output tokens · free$/,
  );
  assert.ok(parts, `unexpected summary: ${summary}`);
  assert.ok(Number(parts[1]) > 0, `input tokens: ${summary}`);
  assert.ok(Number(parts[2]) > 0, `output tokens: ${summary}`);
  assert.equal(await page.$('[data-testid="playground-stop"]'), null, 'Stop is only offered while streaming');

  // The account page counts the request, with the tokens the summary showed.
  // A stream's usage is recorded as the stream ends, so the page may be
  // asked first: it is loaded again until it counts it.
  await page.click('[data-testid="header-account"]');
  const counted = `1 request, ${parts[1]} tokens in, ${parts[2]} out: free`;
  for (let i = 0; ; i++) {
    const shown = await (await page.waitForSelector('[data-testid="ai-usage-total"]')).textContent();
    if (shown === counted) break;
    assert.ok(i < 20, `the account page shows "${shown}", not "${counted}"`);
    await page.waitForTimeout(250);
    await page.reload();
    await page.waitForSelector('body[data-hydrated="true"]');
  }
  assert.match(await page.textContent('[data-testid="ai-usage-row"]'), /local\/smollm2-135m-instruct/);
  assert.match(await page.textContent('[data-testid="ai-spending"]'), /No spending limits are set/);
  assert.deepEqual(env.browser.pageErrors, []);
});

test('prompts are checked by the same rule in the browser and on the server', async () => {
  // Still signed in from the test above.
  const page = await openHydrated(env.browser, `${env.server.url}/playground`);
  const send = '[data-testid="playground-send"]';

  await page.fill('[data-testid="playground-prompt"]', '   ');
  assert.equal(await page.isDisabled(send), true, 'a blank prompt cannot be sent');
  await page.fill('[data-testid="playground-prompt"]', 'a'.repeat(8001));
  assert.match(await page.textContent('[data-testid="prompt-error"]'), /at most 8000 characters/);
  assert.equal(await page.isDisabled(send), true, 'a prompt over 8000 characters cannot be sent');
  await page.fill('[data-testid="playground-prompt"]', 'a'.repeat(8000));
  assert.equal(await page.textContent('[data-testid="prompt-error"]'), '');
  assert.equal(await page.isDisabled(send), false);

  // The server refuses what the page would not send, before any model runs.
  const refused = await page.request.post(`${env.server.url}/api/ai/playground`, {
    form: { preference: 'speed', prompt: 'a'.repeat(8001) },
    headers: { Origin: env.server.url },
  });
  assert.equal(refused.ok(), false);
  assert.equal((await refused.json()).code, 'invalid_request');
  assert.deepEqual(env.browser.pageErrors, []);
});
