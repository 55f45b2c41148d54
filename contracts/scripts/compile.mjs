// Compiles every contract under src/ with the pinned solc-js and writes one
// artifact per contract to artifacts/. The artifacts are committed: the server
// embeds them, so a build needs no Solidity compiler, and CI runs `--check` to
// prove they still match the sources.
//
//   node scripts/compile.mjs           write artifacts/
//   node scripts/compile.mjs --check   compile in memory; exit 1 if artifacts/ differs
import solc from 'solc';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');
const ARTIFACTS = join(ROOT, 'artifacts');
const NODE_MODULES = join(ROOT, 'node_modules');

// Everything that changes the bytecode is fixed here and recorded in each
// artifact. No metadata hash or CBOR trailer: the bytecode then depends only
// on the sources and these settings, not on file paths or comments.
const SETTINGS = {
  evmVersion: 'cancun',
  viaIR: true,
  optimizer: { enabled: true, runs: 1_000_000 },
  metadata: { bytecodeHash: 'none', appendCBOR: false },
};

function solidityFiles(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return solidityFiles(path);
      return entry.name.endsWith('.sol') ? [path] : [];
    })
    .sort();
}

// Source units are named by their path from contracts/ with forward slashes,
// so the compiler sees the same names on every machine.
const unitName = (path) => relative(ROOT, path).split(sep).join('/');

function findImports(path) {
  if (!path.startsWith('@openzeppelin/')) return { error: `unsupported import ${path}` };
  try {
    return { contents: readFileSync(join(NODE_MODULES, path), 'utf8') };
  } catch {
    return { error: `not found in node_modules: ${path}` };
  }
}

function compile() {
  const ours = solidityFiles(SRC).map(unitName);
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(ours.map((name) => [name, { content: readFileSync(join(ROOT, name), 'utf8') }])),
    settings: {
      ...SETTINGS,
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const problems = output.errors ?? [];
  for (const problem of problems) console.error(problem.formattedMessage);
  if (problems.some((problem) => problem.severity === 'error')) process.exit(1);

  const artifacts = new Map();
  for (const name of ours) {
    for (const [contractName, contract] of Object.entries(output.contracts[name] ?? {})) {
      // Interfaces have no code to deploy or embed.
      if (contract.evm.bytecode.object === '') continue;
      if (artifacts.has(contractName)) {
        console.error(`two contracts are named ${contractName}; artifact names must be unique`);
        process.exit(1);
      }
      const artifact = {
        contractName,
        abi: contract.abi,
        bytecode: `0x${contract.evm.bytecode.object}`,
        deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
        compiler: { version: solc.version(), settings: SETTINGS },
      };
      artifacts.set(`${contractName}.json`, `${JSON.stringify(artifact, null, 2)}\n`);
    }
  }
  return artifacts;
}

function committedArtifacts() {
  if (!existsSync(ARTIFACTS)) return new Map();
  return new Map(
    readdirSync(ARTIFACTS)
      .filter((file) => file.endsWith('.json'))
      .map((file) => [file, readFileSync(join(ARTIFACTS, file), 'utf8')]),
  );
}

const fresh = compile();
const committed = committedArtifacts();

if (process.argv.includes('--check')) {
  const stale = [...new Set([...fresh.keys(), ...committed.keys()])]
    .filter((file) => fresh.get(file) !== committed.get(file))
    .sort();
  for (const file of stale) {
    const why = !committed.has(file) ? 'missing' : !fresh.has(file) ? 'no longer built' : 'differs';
    console.error(`artifacts/${file}: ${why}`);
  }
  if (stale.length > 0) {
    console.error('artifacts are out of date: run `node scripts/compile.mjs` in contracts/ and commit the result');
    process.exit(1);
  }
  console.log(`artifacts match the sources (${fresh.size} contracts, solc ${solc.version()})`);
} else {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const file of committed.keys()) if (!fresh.has(file)) rmSync(join(ARTIFACTS, file));
  for (const [file, text] of fresh) writeFileSync(join(ARTIFACTS, file), text);
  console.log(`wrote ${fresh.size} artifacts with solc ${solc.version()}`);
}
