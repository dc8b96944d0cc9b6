// Builds the .vsix for this platform only (`vsce package --target <platform>-<arch>`): the bundles in
// dist/ carry this platform's ONNX Runtime binaries (dist/ort), so the package is platform-specific.
// sharp is not bundled (it loads its binary and libvips by package name at run time): it and this platform's
// @img/sharp-* packages are copied into dist/node_modules, where dist/engineProcess.js and dist/cli.js find them.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const target = `${process.platform}-${process.arch}`;
const out = process.argv[2] ?? 'saliency-lens.vsix';

/** A package and, transitively, its dependencies (optional ones only where npm installed them). */
function runtimePackages(name, found = new Set()) {
  if (found.has(name)) return found;
  const manifest = path.join('node_modules', name, 'package.json');
  if (!fs.existsSync(manifest)) return found;
  found.add(name);
  const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  for (const dep of [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.optionalDependencies ?? {})]) runtimePackages(dep, found);
  return found;
}

const shipped = [...runtimePackages('sharp')];
if (!shipped.some((p) => p.startsWith('@img/sharp-libvips-'))) {
  console.warn(`No sharp binary for ${target} is installed: the package decodes large images with the JS decoders only.`);
}
fs.rmSync(path.join('dist', 'node_modules'), { recursive: true, force: true });
for (const name of shipped) fs.cpSync(path.join('node_modules', name), path.join('dist', 'node_modules', name), { recursive: true, verbatimSymlinks: true });

const vsce = require.resolve('@vscode/vsce/vsce');
execFileSync(process.execPath, [vsce, 'package', '--target', target, '--no-dependencies', '--allow-missing-repository',
  '--no-rewrite-relative-links', '--out', out], { stdio: 'inherit' });
console.log(`${out}: ${target}, ${(fs.statSync(out).size / 2 ** 20).toFixed(1)} MiB; with ${shipped.join(', ')}`);
