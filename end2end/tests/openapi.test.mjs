import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { startServer } from '../support/server.mjs';
import { PASSWORD } from '../support/accounts.mjs';

// The API against its own OpenAPI document: schemathesis (the `st` command
// scripts/setup installs, MERITREE_SCHEMATHESIS) sends every operation
// generated requests, valid and invalid, with a member's API key, and fails
// on any 5xx answer and on any answer whose media type or body the document
// does not describe for its status.
const SCHEMATHESIS = process.env.MERITREE_SCHEMATHESIS;
// Generated requests per operation in the fuzzing phase; the coverage phase
// adds its boundary and type-mismatch cases (tens per operation). A fixed
// seed sends the same requests each run, with the versions pinned in
// scripts/tools/requirements.txt.
const MAX_EXAMPLES = 25;
const SEED = 20_240_601;
// The run takes a minute or two on two slow cores; past this it is stopped.
const RUN_LIMIT_MS = 240_000;

// Operations the fuzzer leaves alone (where the document has them): those
// that would end its own credentials, and WebSocket upgrades.
const EXCLUDED = [
  { method: 'POST', path: /^\/api\/v1\/auth\/logout-all$/ },
  { method: 'DELETE', path: /^\/api\/v1\/user\/api-keys\/\{[^}]+\}$/ },
  { path: /^\/api\/v1\/ws$/ },
  { path: /^\/api\/v1\/nodes\/\{[^}]+\}\/connect$/ },
];

// An OpenAI-compatible upstream that answers at once, so that whatever
// model the fuzzer reaches through /v1 answers the same way every run
// (the embedded CPU models would take seconds per request).
function startUpstream() {
  const server = createServer(async (request, response) => {
    let body = '';
    for await (const chunk of request) body += chunk;
    let json = {};
    try {
      json = JSON.parse(body || '{}');
    } catch {
      // answered anyway
    }
    if (request.url.endsWith('/chat/completions')) {
      // A judge's verdict, should an evaluation ask; streamed, as asked.
      const content = JSON.stringify({
        scores: { relevance: 7, craft: 7, insight: 7 }, safe: true, reason: 'Fine.',
      });
      const chunk = (choices, usage) => `data: ${JSON.stringify({
        id: 'c1', object: 'chat.completion.chunk', created: 1, model: json.model, choices, usage,
      })}\n\n`;
      response.setHeader('content-type', 'text/event-stream');
      response.end(
        chunk([{ index: 0, delta: { role: 'assistant', content }, finish_reason: null }], null)
        + chunk([{ index: 0, delta: {}, finish_reason: 'stop' }], null)
        + chunk([], { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 })
        + 'data: [DONE]\n\n',
      );
    } else if (request.url.endsWith('/embeddings')) {
      const inputs = Array.isArray(json.input) ? json.input : [json.input];
      const data = inputs.map((text, index) => {
        const v = new Array(16).fill(0);
        v[0] = 1;
        for (const c of String(text)) v[c.charCodeAt(0) % 16] += 1;
        return { object: 'embedding', index, embedding: v };
      });
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify({ object: 'list', data, model: json.model, usage: { prompt_tokens: 1, total_tokens: 1 } }));
    } else {
      response.statusCode = 404;
      response.end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const env = {};
before(async () => {
  env.upstream = await startUpstream();
  const config = `
[ai.local]
enabled = false
[ai.nodes]
enabled = false

[[ai.providers]]
name = "upstream"
kind = "openai"
base_url = "http://127.0.0.1:${env.upstream.address().port}/v1"
api_key_env = ""
[[ai.providers.models]]
name = "chat-1"
input_price = 0
output_price = 0
context = 8192
capabilities = ["chat"]
[[ai.providers.models]]
name = "embed-1"
input_price = 0
output_price = 0
context = 8192
capabilities = ["embeddings"]

[work]
judge_model = "upstream/chat-1"
embedding_model = "upstream/embed-1"
`;
  // No rate limits: the fuzzer sends thousands of requests with one key.
  env.server = await startServer({ config, env: { MERITREE_RATE_LIMITS__ENABLED: 'false' } });
});
after(async () => {
  await env.server?.stop();
  env.upstream?.close();
});

/** Registers `email` over the JSON API and creates an API key with every
 * scope (a fresh sign-in is the proof of identity a new key needs). */
async function memberApiKey(url, email) {
  const registered = await fetch(`${url}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: url },
    body: JSON.stringify({ email, password: PASSWORD }),
  });
  assert.equal(registered.status, 201, await registered.text());
  const cookie = registered.headers.getSetCookie()
    .map((c) => c.split(';')[0])
    .filter((c) => /^mt_(access|refresh)=./.test(c))
    .join('; ');
  assert.match(cookie, /mt_access=/);
  const created = await fetch(`${url}/api/v1/user/api-keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: url, cookie },
    body: JSON.stringify({ name: 'schemathesis', scopes: ['ai', 'read', 'submit', 'node'] }),
  });
  const body = await created.text();
  assert.equal(created.status, 201, body);
  const { key } = JSON.parse(body);
  const me = await fetch(`${url}/api/v1/user/me`, { headers: { authorization: `Bearer ${key}` } });
  assert.equal(me.status, 200, await me.text());
  return key;
}

/** Runs `st` with `args` in a scratch directory (it keeps a cache of
 * failures in its working directory); its exit code and output. */
async function schemathesis(args) {
  const work = mkdtempSync(join(tmpdir(), 'meritree-schemathesis-'));
  try {
    const child = spawn(SCHEMATHESIS, args, {
      cwd: work,
      env: { ...process.env, PYTHONUNBUFFERED: '1', COLUMNS: '120' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = [];
    child.stdout.on('data', (data) => output.push(data));
    child.stderr.on('data', (data) => output.push(data));
    let timedOut = false;
    // Interrupted, it still prints what failed so far; killed if it hangs.
    const stop = setTimeout(() => {
      timedOut = true;
      child.kill('SIGINT');
      setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
    }, RUN_LIMIT_MS);
    const code = await new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (status, signal) => resolve(status ?? signal));
    });
    clearTimeout(stop);
    return { code, timedOut, output: Buffer.concat(output).toString('utf8') };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

test('the API answers fuzzed requests as its OpenAPI document says, never with a 5xx', { timeout: RUN_LIMIT_MS + 60_000 }, async () => {
  if (!SCHEMATHESIS) throw new Error('MERITREE_SCHEMATHESIS is not set: run the browser tests through scripts/test');
  const { url } = env.server;

  const response = await fetch(`${url}/api/v1/openapi.json`);
  assert.equal(response.status, 200);
  const doc = await response.json();
  assert.ok(String(doc.openapi).startsWith('3.1'), `openapi: ${doc.openapi}`);
  const paths = Object.keys(doc.paths ?? {});
  assert.ok(paths.some((p) => p.startsWith('/api/v1/')), 'no paths under /api/v1');
  assert.ok(paths.some((p) => p.startsWith('/v1/')), 'no paths under /v1');

  const key = await memberApiKey(url, 'fuzz@example.org');

  const exclusions = [];
  for (const path of paths) {
    for (const rule of EXCLUDED.filter((r) => r.path.test(path))) {
      if (!rule.method) exclusions.push('--exclude-path', path);
      else if (doc.paths[path][rule.method.toLowerCase()]) exclusions.push('--exclude-name', `${rule.method} ${path}`);
    }
  }

  const run = await schemathesis([
    'run', `${url}/api/v1/openapi.json`,
    '--header', `Authorization: Bearer ${key}`,
    '--checks', 'not_a_server_error,response_schema_conformance,content_type_conformance',
    // Not `stateful`: it follows the document's links for as long as it has time.
    '--phases', 'examples,coverage,fuzzing',
    '--max-examples', String(MAX_EXAMPLES),
    '--seed', String(SEED),
    '--workers', '1',
    '--request-timeout', '30',
    // Nothing remembered between runs: each one sends what the seed says.
    '--generation-database', 'none',
    // Generation is slow on a slow machine; that is no failure of the API.
    '--suppress-health-check', 'too_slow',
    // A failure is reported as found (with a curl line to reproduce it),
    // not minimised first: that could take longer than the run.
    '--no-shrink',
    '--no-color',
    ...exclusions,
  ]);
  // Its summary (operations, requests, checks) in the test log.
  console.log(run.output.split('\n').slice(-30).join('\n'));
  if (run.timedOut) assert.fail(`schemathesis did not finish in ${RUN_LIMIT_MS / 1000} s:\n${run.output}`);
  assert.equal(run.code, 0, `schemathesis exited with ${run.code}:\n${run.output}`);
});
