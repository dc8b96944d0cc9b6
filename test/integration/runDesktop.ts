// `npm run test:desktop`: the same integration suite in desktop VS Code through @vscode/test-electron.
// Uses VSCODE_EXECUTABLE when set (a VS Code already installed), else test-electron downloads one, which
// needs internet; where neither works it says so and exits non-zero.
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';

async function main(): Promise<void> {
  const root = path.resolve(__dirname, '..', '..');
  try {
    await runTests({
      vscodeExecutablePath: process.env.VSCODE_EXECUTABLE || undefined,
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(root, 'dist-test', 'integration', 'index.js'),
      launchArgs: [path.join(root, 'examples'), '--disable-extensions', '--disable-workspace-trust'],
    });
  } catch (err) {
    console.error(`desktop VS Code tests did not run or failed: ${(err as Error).message ?? err}`);
    process.exit(1);
  }
}

void main();
