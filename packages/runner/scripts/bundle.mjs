// Bundles the runner for the sandbox: dist/runner.cjs (entry, small: it only has to send hello) plus
// dist/runner-core.mjs loaded after hello (core with zod) — see src/main.ts. The Agent SDK stays external:
// it is resolved from node_modules next to the install, with its native CLI.
import { build } from 'esbuild';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// `--out <dir>` builds elsewhere than dist/ (a test bundling its own copy must not replace the files that sandboxes
// started by other tests are loading). The directory must lie inside the repository, so that the Agent SDK, left
// external, resolves from its node_modules.
const outAt = process.argv.indexOf('--out');
const dist = outAt > 0 ? resolve(process.argv[outAt + 1] ?? '') : join(root, 'dist');
if (outAt > 0 && !dist.startsWith(join(root, '..', '..') + '/')) {
  console.error(`--out ${dist}: must be a directory inside the repository`);
  process.exit(2);
}
mkdirSync(dist, { recursive: true });
// Chunk names carry content hashes: remove the previous build's so stale chunks do not pile up.
for (const f of readdirSync(dist, { withFileTypes: true })) {
  if (f.isFile() && /^runner.*\.(mjs|cjs)$/.test(f.name)) rmSync(join(dist, f.name));
}

// The entry is CommonJS (Node starts it a few ms faster than an ES module; it is on the B1 path). It loads the
// core, an ES module bundle, with a dynamic import once hello is on its way.
await build({
  entryPoints: { runner: join(root, 'src/main.ts') },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: join(dist, 'runner.cjs'),
  plugins: [
    {
      name: 'core-as-separate-module',
      setup(b) {
        b.onResolve({ filter: /^\.\/core\.js$/ }, () => ({ path: './runner-core.mjs', external: true }));
      },
    },
  ],
  logLevel: 'warning',
});
await build({
  entryPoints: { 'runner-core': join(root, 'src/core.ts') },
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Code loaded on demand (the custom tools' MCP server) goes to its own chunk, off the start-up path.
  splitting: true,
  chunkNames: 'runner-chunk-[hash]',
  outdir: dist,
  outExtension: { '.js': '.mjs' },
  external: ['@anthropic-ai/claude-agent-sdk'],
  // Bundled CommonJS dependencies may call require(); give the ES module one.
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  logLevel: 'warning',
});

for (const f of readdirSync(dist)
  .filter((n) => /^runner.*\.(mjs|cjs)$/.test(n))
  .sort()) {
  console.log(`${f.padEnd(40)} ${(statSync(join(dist, f)).size / 1024).toFixed(1)} KiB`);
}
