import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { crc32, deflateSync } from 'node:zlib';

import { startServer } from '../support/server.mjs';
import { openHydrated, withServerAndBrowser } from '../support/browser.mjs';
import { signUp } from '../support/accounts.mjs';

// A judge that speaks OpenAI's wire format: fixed scores, a bag-of-words
// embedding, and a pause on each call so the stages can be seen moving.
function startJudge() {
  const server = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    const json = JSON.parse(body || '{}');
    await new Promise((resolve) => setTimeout(resolve, 1200));
    response.setHeader('content-type', 'application/json');
    if (request.url.endsWith('/chat/completions')) {
      const content = JSON.stringify({
        scores: { relevance: 9, craft: 8, insight: 7 }, safe: true, reason: 'Vivid and on theme.',
      });
      response.end(JSON.stringify({
        id: 'c1', object: 'chat.completion', created: 1, model: json.model,
        choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 200, completion_tokens: 40, total_tokens: 240 },
      }));
    } else {
      const inputs = Array.isArray(json.input) ? json.input : [json.input];
      const data = inputs.map((text, index) => {
        const v = new Array(64).fill(0);
        for (const word of String(text).toLowerCase().split(/[^a-z0-9]+/).filter(Boolean)) {
          let h = 7;
          for (const c of word) h = (h * 31 + c.charCodeAt(0)) >>> 0;
          v[h % 64] += 1;
        }
        return { object: 'embedding', index, embedding: v };
      });
      response.end(JSON.stringify({ object: 'list', data, model: json.model, usage: { prompt_tokens: 3, total_tokens: 3 } }));
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// A PNG of stripes, with a text chunk the server must strip.
function png(width, height) {
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  const rows = [];
  for (let y = 0; y < height; y++) {
    rows.push(0);
    for (let x = 0; x < width; x++) rows.push((x * 5) % 256, (y * 7) % 256, x % 8 < 4 ? 220 : 30);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('tEXt', Buffer.from('Comment\0shot at 51.5N', 'latin1')),
    chunk('IDAT', deflateSync(Buffer.from(rows))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

let judge;
const env = withServerAndBrowser({ before, after }, async () => {
  judge = await startJudge();
  const config = `
[[ai.providers]]
name = "judge"
kind = "openai"
base_url = "http://127.0.0.1:${judge.address().port}/v1"
api_key_env = ""
[[ai.providers.models]]
name = "judge-1"
input_price = 1000000
output_price = 2000000
context = 8192
capabilities = ["chat"]
[[ai.providers.models]]
name = "bow-64"
input_price = 100000
output_price = 0
context = 8192
capabilities = ["embeddings"]

[work]
judge_model = "judge/judge-1"
embedding_model = "judge/bow-64"
`;
  // Ten-second rounds on the embedded chain, a settlement pass every second.
  return startServer({ config, env: { MERITREE_REWARDS__ROUND_SECS: '10', MERITREE_CHAIN__TICK_SECS: '1' } });
});
after(() => judge?.close());

test('a member submits work, watches it evaluated live, and is paid tokens from the round pool', async () => {
  const page = await openHydrated(env.browser, `${env.server.url}/`);
  await signUp(page, env.server.url, 'mia@example.org');
  await page.fill('input[name="wallet_passphrase"]', 'mia wallet passphrase');
  await page.click('[data-testid="create-wallet"]');
  await page.waitForSelector('[data-testid="export-wallet"]', { timeout: 60_000 });
  await page.fill('[data-testid="public-handle"] input[name="handle"]', 'mia');
  await page.click('[data-testid="set-handle"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="public-handle"]')?.textContent?.includes('@mia'));

  await page.click('[data-testid="header-submit"]');
  await page.waitForSelector('[data-testid="work-title"]');
  await page.fill('[data-testid="work-title"]', 'ab');
  assert.match(await page.textContent('[data-testid="title-error"]'), /at least 3 characters/);
  assert.equal(await page.isDisabled('[data-testid="submit-work"]'), true);
  await page.fill('[data-testid="work-title"]', 'Harbour at dusk');
  await page.fill('[data-testid="work-body"]', 'Cranes lift **rusted** containers while gulls argue over the tide.');
  // A picture: the wrong kind is refused before it is sent, a PNG is
  // uploaded and previewed.
  await page.setInputFiles('[data-testid="image-file"]', { name: 'notes.gif', mimeType: 'image/gif', buffer: Buffer.from('GIF89a') });
  assert.match(await page.textContent('[data-testid="image-error"]'), /PNG, JPEG or WebP/);
  await page.setInputFiles('[data-testid="image-file"]', { name: 'harbour.png', mimeType: 'image/png', buffer: png(48, 32) });
  await page.waitForSelector('[data-testid="image-preview"]');
  assert.equal(await page.textContent('[data-testid="image-error"]'), '');

  // Every stage the page shows running, recorded without reloading.
  await page.evaluate(() => {
    window.stillThisPage = true;
    window.runningStages = [];
    new MutationObserver(() => {
      const running = document.querySelector('[data-state="running"]')?.dataset.stage;
      if (running && window.runningStages.at(-1) !== running) window.runningStages.push(running);
    }).observe(document.body, { subtree: true, childList: true, attributes: true });
  });
  await page.click('[data-testid="submit-work"]');
  await page.waitForURL(/\/s\/[0-9a-f-]+$/);
  await page.waitForSelector('[data-testid="work-status"][data-status="scored"]', { timeout: 60_000 });
  const stages = await page.evaluate(() => window.runningStages);
  assert.ok(stages.includes('originality') && stages.includes('quality'), `stages seen running: ${stages}`);
  assert.equal(await page.evaluate(() => window.stillThisPage), true, 'the page updated without a reload');
  assert.equal(await page.textContent('[data-testid="work-score"]'), '80');
  assert.equal(await page.textContent('[data-testid="work-reason"]'), 'Vivid and on theme.');
  assert.equal(await page.innerHTML('.work-body strong'), 'rusted');
  const picture = await page.$eval('[data-testid="work-image"]', (img) => ({ src: img.src, width: img.naturalWidth }));
  assert.equal(picture.width, 48);
  const served = Buffer.from(await (await fetch(picture.src)).arrayBuffer());
  assert.equal(served.includes('51.5N'), false, 'the text chunk is gone');

  // The page is crawlable: its HTML carries the work and its Open Graph tags.
  const html = await (await fetch(page.url())).text();
  assert.match(html, /<meta property="og:title" content="Harbour at dusk"/);
  assert.match(html, /Scored 80\/100/);

  // The round closes; its pool pays the entry, and the round's page shows
  // it on the leaderboard as it happens.
  await page.click('a[href^="/rounds/"]');
  await page.waitForSelector('[data-testid="round-title"]');
  await page.waitForSelector('[data-testid="leaderboard"] [data-testid="entry-reward"]:has-text("500")', { timeout: 60_000 });
  assert.match(await page.textContent('[data-testid="leaderboard"]'), /@mia/);

  // The points settle with the next round and are claimed as tokens.
  for (let i = 0; ; i++) {
    await page.goto(`${env.server.url}/rewards`);
    await page.waitForSelector('body[data-hydrated="true"]');
    const shown = await page.$('[data-testid="claimable"]');
    if (shown && (await shown.textContent()) === '500 MRT') break;
    assert.ok(i < 60, '500 MRT was not claimable within a minute');
    await page.waitForTimeout(1000);
  }
  await page.click('[data-testid="claim"]');
  await page.waitForSelector('[data-testid="claim-status"][data-status="confirmed"]', { timeout: 60_000 });
  await page.waitForFunction(
    () => document.querySelector('[data-testid="token-balance"]')?.textContent === '500 MRT',
    null,
    { timeout: 30_000 },
  );

  // The member's page and search find the work.
  await page.goto(`${env.server.url}/u/mia`);
  await page.waitForSelector('[data-testid="member-earned"]');
  assert.equal(await page.textContent('[data-testid="member-earned"]'), '500');
  await page.goto(`${env.server.url}/search?q=gulls%20tide`);
  await page.waitForSelector('[data-testid="hits"] mark');
  assert.match(await page.textContent('[data-testid="hits"]'), /Harbour at dusk/);
  assert.deepEqual(env.browser.pageErrors, []);
});
