// Starts anvil from the npm package on a port the OS picks and stops it again.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const ANVIL = join(dirname(require.resolve('@foundry-rs/anvil-linux-amd64/package.json')), 'bin', 'anvil');

/**
 * Resolves once anvil answers JSON-RPC; `args` go to anvil as they are.
 * `--port 0` lets the OS choose a free port, so parallel runs cannot collide;
 * anvil prints the port it bound.
 */
export async function startAnvil({ args = [], timeoutMs = 20_000 } = {}) {
  const child = spawn(ANVIL, ['--host', '127.0.0.1', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`anvil did not start in ${timeoutMs} ms:\n${log}`)), timeoutMs);
    const fail = (error) => {
      clearTimeout(timer);
      child.kill();
      reject(error);
    };
    const onExit = (code) => fail(new Error(`anvil exited with ${code}:\n${log}`));
    const onOutput = (chunk) => {
      log += chunk;
      const match = /Listening on 127\.0\.0\.1:(\d+)/.exec(log);
      if (!match) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      // Keep draining, but stop collecting: a full pipe would block anvil.
      child.stdout.off('data', onOutput);
      child.stderr.off('data', onOutput);
      child.stdout.resume();
      child.stderr.resume();
      resolve(Number(match[1]));
    };
    child.stdout.setEncoding('utf8').on('data', onOutput);
    child.stderr.setEncoding('utf8').on('data', onOutput);
    child.once('error', fail);
    child.once('exit', onExit);
  });

  const url = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(url, timeoutMs);
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function waitUntilAnswering(url, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      });
      if (response.ok) return;
    } catch {
      // Not accepting connections yet.
    }
    if (Date.now() > deadline) throw new Error(`anvil at ${url} did not answer in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
