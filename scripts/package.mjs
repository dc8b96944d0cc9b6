// Builds the .vsix for this platform only (`vsce package --target <platform>-<arch>`): the bundles in
// dist/ carry this platform's ONNX Runtime binaries (dist/ort), so the package is platform-specific.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const target = `${process.platform}-${process.arch}`;
const out = process.argv[2] ?? 'saliency-lens.vsix';
const vsce = require.resolve('@vscode/vsce/vsce');
execFileSync(process.execPath, [vsce, 'package', '--target', target, '--no-dependencies', '--allow-missing-repository',
  '--no-rewrite-relative-links', '--out', out], { stdio: 'inherit' });
console.log(`${out}: ${target}, ${(fs.statSync(out).size / 2 ** 20).toFixed(1)} MiB`);
