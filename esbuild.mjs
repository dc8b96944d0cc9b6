// Bundles the Node entry points (CLI, bench) and copies the tfjs wasm binaries beside them.
// Later targets (extension host, engine process, webview) join the list here.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

const watch = process.argv.includes('--watch');
const outdir = 'dist';

const nodeTargets = [
  { entryPoints: { cli: 'src/cli.ts' }, banner: { js: '#!/usr/bin/env node' } },
  { entryPoints: { bench: 'bench/bench.ts' } },
].filter((t) => Object.values(t.entryPoints).every((f) => fs.existsSync(f)));

function copyWasm() {
  const src = path.join('node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');
  const dst = path.join(outdir, 'wasm');
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(src).filter((f) => f.endsWith('.wasm'))) fs.copyFileSync(path.join(src, f), path.join(dst, f));
}

const common = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outdir,
  sourcemap: true,
  logLevel: 'warning',
  // Optional native backend: resolved at run time when installed, never bundled.
  external: ['@tensorflow/tfjs-node'],
};

copyWasm();
for (const target of nodeTargets) {
  const options = { ...common, ...target };
  if (watch) await (await esbuild.context(options)).watch();
  else await esbuild.build(options);
}
if (fs.existsSync(path.join(outdir, 'cli.js'))) fs.chmodSync(path.join(outdir, 'cli.js'), 0o755);
