// Starts the real `meritree` binary on a free port with a fresh data
// directory, and stops it after the tests. The binary and the built site
// come from scripts/build (MERITREE_BIN, MERITREE_SITE__ROOT).
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
// The embedded chain's anvil, installed by scripts/setup.
const ANVIL_BIN = join(REPO_ROOT, 'contracts/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');

/** `config`: the text of a `meritree.toml` to serve with (for what
 * environment variables cannot say, such as AI providers). */
export async function startServer({ env = {}, config } = {}) {
  const bin = process.env.MERITREE_BIN;
  if (!bin) throw new Error('MERITREE_BIN is not set: run the browser tests through scripts/test');
  const dataDir = mkdtempSync(join(tmpdir(), 'meritree-e2e-'));
  if (config) writeFileSync(join(dataDir, 'meritree.toml'), config);
  const child = spawn(bin, ['serve'], {
    cwd: dataDir,
    env: {
      PATH: process.env.PATH,
      MERITREE_SITE__ROOT: process.env.MERITREE_SITE__ROOT,
      MERITREE_SERVER__PORT: '0',
      MERITREE_LOG__FORMAT: 'json',
      MERITREE_CHAIN__ANVIL_BIN: ANVIL_BIN,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const log = [];
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log.join('\n')}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}:\n${log.join('\n')}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      log.push(line);
      try {
        const event = JSON.parse(line);
        if (event.message === 'listening') {
          clearTimeout(timer);
          resolve(event.url);
        }
      } catch {
        // not a JSON log line
      }
    });
  });
  return {
    url,
    log,
    /** Runs `meritree <args>` on this server's data directory (e.g. `points credit`),
     * with `extraEnv` added to its environment. */
    async cli(args, extraEnv = {}) {
      const { stdout } = await promisify(execFile)(bin, args, {
        cwd: dataDir,
        env: { PATH: process.env.PATH, MERITREE_CHAIN__EMBEDDED: 'false', ...extraEnv },
      });
      return stdout;
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
