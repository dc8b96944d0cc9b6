// Bundles every entry point: the extension host (cjs, `vscode` external), the engine process, the CLI
// and bench (node), and the panel's webview script (browser iife); copies the tfjs wasm binaries.
import * as esbuild from 'esbuild';
import * as fs from 'node:fs';
import * as path from 'node:path';

const watch = process.argv.includes('--watch');
const outdir = 'dist';

const nodeTargets = [
  { entryPoints: { cli: 'src/cli.ts' }, banner: { js: '#!/usr/bin/env node' } },
  { entryPoints: { bench: 'bench/bench.ts' } },
  { entryPoints: { extension: 'src/extension.ts' }, external: ['vscode', '@tensorflow/tfjs-node'] },
  { entryPoints: { engineProcess: 'src/engineProcess.ts' } },
].filter((t) => Object.values(t.entryPoints).every((f) => fs.existsSync(f)));

// Integration tests run inside VS Code's extension host: bundled like the extension, `vscode` and mocha external.
const testTargets = [
  { entryPoints: { index: 'test/integration/suite/index.ts', 'extension.test': 'test/integration/suite/extension.test.ts' } },
].filter((t) => Object.values(t.entryPoints).every((f) => fs.existsSync(f)));

const browserTargets = [
  { entryPoints: { webview: 'webview/main.ts' } },
  { entryPoints: { compare: 'webview/compare.ts' } },
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

const browser = { bundle: true, platform: 'browser', format: 'iife', target: 'chrome120', outdir, sourcemap: true, logLevel: 'warning' };

copyWasm();
const testing = { ...common, outdir: 'dist-test/integration', external: ['vscode', 'mocha'] };

for (const options of [
  ...nodeTargets.map((t) => ({ ...common, ...t })),
  ...testTargets.map((t) => ({ ...testing, ...t })),
  ...browserTargets.map((t) => ({ ...browser, ...t })),
]) {
  if (watch) await (await esbuild.context(options)).watch();
  else await esbuild.build(options);
}
if (fs.existsSync(path.join(outdir, 'cli.js'))) fs.chmodSync(path.join(outdir, 'cli.js'), 0o755);
