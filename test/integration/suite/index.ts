// Entry the workbench loads as extensionTestsPath: runs the suite inside the real extension host.
import * as path from 'node:path';
import { runMochaSuites } from '../mochaInHost';

export function run(): Promise<void> {
  return runMochaSuites([path.join(__dirname, 'extension.test.js')]);
}
