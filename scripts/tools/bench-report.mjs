// Writes docs/benchmarks.md from the outputs scripts/bench keeps, one
// section per benchmark with the date and commit it was measured at.
//   node scripts/tools/bench-report.mjs <outputs dir> <markdown file>
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [outDir, target] = process.argv.slice(2);

// In the order they appear; `table`: the output is Markdown already.
const SECTIONS = [
  ['bundle', 'Client bundle', '`scripts/build --release`: the files under `pkg/` and what browsers that accept brotli or gzip download; then what a first visit to each page downloads. Target: the public pages hydrate with at most 150 KB of brotli wasm + JS.', true],
  ['lighthouse', 'Lighthouse (mobile profile)', 'Targets: performance and accessibility of at least 95 on the landing page and a round page.', true],
  ['http', 'HTTP baseline', 'The release server on SQLite under wrk.', true],
  ['gateway-wrk', 'AI gateway against a fake upstream (wrk)', 'Targets: the gateway adds at most 1 ms at p99 with one connection, and with eight it serves at least 25% of what the upstream serves called straight. The proxies that only forward show what any gateway on this machine can reach; changes are judged by CPU per request and the share of the forwarding proxy on the same HTTP stack (docs/decisions/0041).', true],
  ['gateway', 'AI gateway in process (`cargo bench -p server --bench server -- gateway`)', 'Added latency, open-loop rates, time to first token, a request served by a community node, memory.', false],
  ['auth', 'Authentication (`cargo bench -p server --bench server -- auth`)', 'Sign-ins and authenticated requests through the real application.', false],
  ['merkle', 'Merkle trees (`cargo bench -p meritree-core --bench merkle`)', 'Building OpenZeppelin-compatible trees and their proofs.', false],
  ['nearest', 'Near-duplicate search (`cargo bench -p meritree-platform --bench nearest`)', 'The HNSW index of embeddings.', false],
  ['work', 'Work that pays (`cargo bench -p server --bench server -- work`)', 'Submissions through the evaluation pipeline, ledger credits per second.', false],
  ['live', 'Live events (`cargo bench -p server --bench server -- live`)', 'WebSocket fan-out.', false],
  ['compute', 'Compute network (`cargo bench -p server --bench server -- compute`)', 'Task transitions and dispatch to nodes.', false],
  ['gas', 'Contract gas (`node --test test/gas.test.mjs test/timelock.test.mjs` in `contracts/`)', 'Receipt gasUsed on anvil.', false],
  ['models', 'Local AI models (`cargo run --release -p meritree-ai --example local_bench`)', 'The embedded CPU models.', false],
];

/** wrk's latency (`152.00us`, `1.23ms`, `2.00s`) in microseconds. */
function micros(text) {
  const m = /^([0-9.]+)(us|ms|s)$/.exec(text.trim());
  if (!m) return NaN;
  return Number(m[1]) * { us: 1, ms: 1000, s: 1_000_000 }[m[2]];
}

/** Seconds as minutes and seconds: `14 min 5 s`, `40 s`. */
function duration(seconds) {
  const minutes = Math.floor(seconds / 60);
  return minutes ? `${minutes} min ${seconds % 60} s` : `${seconds} s`;
}

/** The gateway's figures against its targets, from the wrk table. */
function gatewayVerdict(table) {
  const rows = Object.fromEntries(
    table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| path') && !l.startsWith('| ---'))
      .map((l) => l.split('|').map((c) => c.trim()).filter(Boolean))
      .map(([label, rps, p50, p99, cpu]) => [label, { rps: Number(rps.replace(/,/g, '')), p50, p99, cpu }]),
  );
  const straight1 = rows['straight to the upstream, 1 connection(s)'];
  const gateway1 = rows['through the gateway, 1 connection(s)'];
  const straight8 = rows['straight to the upstream, 8 connection(s)'];
  const gateway8 = rows['through the gateway, 8 connection(s)'];
  const oneWorker = (c) => rows[`through the gateway with one worker thread (server.workers = 1), ${c} connection(s)`];
  const empty8 = rows["the same server's GET /healthz (no work), 8 connection(s)"];
  const nginxProxy8 = rows['a proxy that only forwards: nginx, 8 connection(s)'];
  const bareProxy = (c) => rows[`a proxy that only forwards on the gateway's HTTP stack (axum + reqwest), ${c} connection(s)`];
  const bareProxy1 = bareProxy(1);
  const bareProxy8 = bareProxy(8);
  if (!straight1 || !gateway1 || !straight8 || !gateway8) return '';
  const added = (micros(gateway1.p99) - micros(straight1.p99)) / 1000;
  const share = (100 * gateway8.rps) / straight8.rps;
  const mark = (ok) => (ok ? 'met' : 'not met');
  const percent = (row) => `${((100 * row.rps) / straight8.rps).toFixed(1)}%`;
  return `\nAdded by the gateway at p99, one connection: **${added.toFixed(2)} ms** (target ≤ 1 ms: ${mark(added <= 1)})` +
    (bareProxy1 ? `; by a proxy that only forwards on the same HTTP stack: ${((micros(bareProxy1.p99) - micros(straight1.p99)) / 1000).toFixed(2)} ms. ` : '. ') +
    `Throughput with eight connections: **${share.toFixed(1)}%** of the upstream's (target ≥ 25%: ${mark(share >= 25)}).` +
    (empty8 ? ` A route of the same server that does nothing serves ${percent(empty8)} of it.` : '') +
    (nginxProxy8 && bareProxy8
      ? ` A proxy that only forwards serves ${percent(nginxProxy8)} of it as nginx and ${percent(bareProxy8)} on the gateway's` +
        ` HTTP stack; the gateway serves ${((100 * gateway8.rps) / bareProxy8.rps).toFixed(0)}% of what that proxy serves.`
      : '') +
    (gateway8.cpu && bareProxy8?.cpu
      ? ` CPU per request at eight connections: the gateway ${gateway8.cpu}, that proxy ${bareProxy8.cpu}.`
      : '') +
    (oneWorker(1) && oneWorker(8)
      ? ` With one worker thread the gateway adds ${((micros(oneWorker(1).p99) - micros(straight1.p99)) / 1000).toFixed(2)} ms` +
        ` at p99 with one connection and serves ${percent(oneWorker(8))} of the upstream's throughput with eight,` +
        ` at ${oneWorker(8).cpu} of CPU per request.`
      : '') +
    '\n';
}

let doc = `# Benchmarks

Written by \`scripts/bench\` (\`scripts/bench NAME…\` re-runs some and keeps the
others); every figure is what the named command printed, on the project's
machines (2 cores, 24 GiB, Debian 12), measured on the date and at the
commit given under its heading, with how long the run took (building its
own binaries included; the release server is built once before any). What
the benchmarks found over time and what changed because of it is in
[benchmark-notes.md](benchmark-notes.md).
`;
// The last run of every benchmark in one go (`scripts/bench` alone).
const whole = join(outDir, 'all.meta');
if (existsSync(whole)) {
  const [date, commit, seconds] = readFileSync(whole, 'utf8').trim().split(' ');
  doc += `\nThe last run of all of them in one go (\`scripts/bench\`): ${date} at \`${commit}\`, ${duration(Number(seconds))}` +
    ' with setup and the release build. A section measured later than that was re-run alone.\n';
}
// What the document says now, section by section: a benchmark with no
// output here (another machine's run, or a cleaned target directory) keeps
// the figures it had, with their date and commit.
const previous = Object.fromEntries(
  (existsSync(target) ? readFileSync(target, 'utf8') : '')
    .split(/^## /m)
    .slice(1)
    .map((section) => {
      const heading = section.indexOf('\n');
      return [section.slice(0, heading), section.slice(heading + 1).replace(/^\n+/, '').trimEnd()];
    }),
);
for (const [name, title, about, table] of SECTIONS) {
  const file = join(outDir, `${name}.txt`);
  doc += `\n## ${title}\n\n`;
  if (!existsSync(file)) {
    doc += previous[title] ? `${previous[title]}\n` : `Not measured yet: \`scripts/bench ${name}\`.\n`;
    continue;
  }
  const [date, commit, seconds] = readFileSync(join(outDir, `${name}.meta`), 'utf8').trim().split(' ');
  const output = readFileSync(file, 'utf8').trimEnd();
  const took = seconds ? `, ${duration(Number(seconds))}` : '';
  doc += `${about} Measured ${date} at \`${commit}\` (\`scripts/bench ${name}\`${took}).\n\n`;
  doc += table ? `${output}\n` : `\`\`\`text\n${output}\n\`\`\`\n`;
  if (name === 'gateway-wrk') doc += gatewayVerdict(output);
}
writeFileSync(target, doc);
