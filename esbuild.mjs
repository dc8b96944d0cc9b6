// Bundles every entry point: the extension host (cjs, `vscode` external), the engine process, the CLI
// and bench (node), and the webviews' scripts (browser iife: explain panel, compare and methods views); copies the tfjs wasm binaries.
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
// Every suite/*.test.ts is one bundle; index.js runs them all.
const suiteDir = 'test/integration/suite';
const suiteFiles = fs.existsSync(suiteDir) ? fs.readdirSync(suiteDir).filter((f) => f.endsWith('.test.ts')).sort() : [];
const testTargets = [
  { entryPoints: { index: `${suiteDir}/index.ts`, ...Object.fromEntries(suiteFiles.map((f) => [f.replace(/\.ts$/, ''), `${suiteDir}/${f}`])) } },
].filter((t) => Object.values(t.entryPoints).every((f) => fs.existsSync(f)));

const browserTargets = [
  { entryPoints: { webview: 'webview/main.ts' } },
  { entryPoints: { compare: 'webview/compare.ts' } },
  { entryPoints: { methods: 'webview/methods.ts' } },
].filter((t) => Object.values(t.entryPoints).every((f) => fs.existsSync(f)));

/**
 * ONNX Runtime's native binding, for this platform only: onnxruntime-node picks its binary by a
 * require path built at run time, which a bundle cannot follow. The bundles load it from dist/ort/
 * instead, where the binding and its shared library (found through the binding's $ORIGIN rpath) are copied.
 */
const ORT_BIN = path.join('node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch);

function copyOrt() {
  if (!fs.existsSync(ORT_BIN)) return;
  const dst = path.join(outdir, 'ort');
  fs.rmSync(dst, { recursive: true, force: true });
  fs.mkdirSync(dst, { recursive: true });
  for (const f of fs.readdirSync(ORT_BIN)) fs.copyFileSync(path.join(ORT_BIN, f), path.join(dst, f));
}

const ortBinding = {
  name: 'ort-binding',
  setup(build) {
    build.onLoad({ filter: /onnxruntime-node[\\/]dist[\\/]binding\.js$/ }, async (args) => {
      const source = await fs.promises.readFile(args.path, 'utf8');
      const bound = source.replace(/require\(`\.\.\/bin\/napi-v6\/\$\{process\.platform\}\/\$\{process\.arch\}\/onnxruntime_binding\.node`\)/,
        "require(require('path').join(__dirname, 'ort', 'onnxruntime_binding.node'))");
      if (bound === source) throw new Error('onnxruntime-node changed how it loads its binding: update esbuild.mjs');
      return { contents: bound, loader: 'js' };
    });
  },
};

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
  // Optional native backend: resolved at run time when installed, never bundled. sharp loads its per-platform
  // binary and libvips by package name at run time: scripts/package.mjs ships them beside dist/.
  external: ['@tensorflow/tfjs-node', 'sharp'],
  plugins: [ortBinding],
};

const browser = { bundle: true, platform: 'browser', format: 'iife', target: 'chrome120', outdir, sourcemap: true, logLevel: 'warning' };

copyWasm();
copyOrt();
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
