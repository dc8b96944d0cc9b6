// Entry the workbench loads as extensionTestsPath: runs every suite (bundled beside it as *.test.js) inside the
// real extension host, extension.test.js first (it sets the workspace's model the others rely on).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runMochaSuites } from '../mochaInHost';

export function run(): Promise<void> {
  const suites = fs.readdirSync(__dirname).filter((f) => f.endsWith('.test.js'))
    .sort((a, b) => Number(b === 'extension.test.js') - Number(a === 'extension.test.js') || a.localeCompare(b));
  return runMochaSuites(suites.map((f) => path.join(__dirname, f)));
}
