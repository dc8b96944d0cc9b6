// Exports and the folder report inside the real extension host: where exports are proposed, what a folder
// run reads, and Save Report As…. The dialogs are intercepted (the extension and this bundle share one `vscode`
// API object), so every answer a user would give is the test's.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { ExplainOutcome } from '../../../src/host/commands';
import type { FolderReportOutcome } from '../../../src/host/folderReport';
import { EXPORTS_FOLDER } from '../../../src/shared/imageFiles';
import type { WebviewToHost } from '../../../src/shared/protocol';
import { api, workspacePath } from './workbench';

/** A 1x1 PNG: what the webview would send as an export. */
const PIXEL_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('Exports and the folder report', function () {
  this.timeout(120_000);
  const window = vscode.window as { -readonly [K in keyof typeof vscode.window]: (typeof vscode.window)[K] };
  const realSaveDialog = window.showSaveDialog;
  const realInformation = window.showInformationMessage;
  /** What each save dialog was opened with; the answer the "user" gives to the next one. */
  let dialogs: vscode.SaveDialogOptions[] = [];
  let answer: (options: vscode.SaveDialogOptions) => vscode.Uri | undefined = () => undefined;
  let dir = '';
  const inputs = ['digit-0-0.png', 'digit-7-29.png'];

  before(async () => {
    await vscode.workspace.getConfiguration('saliencyLens').update('model', workspacePath('mnist-cnn'), vscode.ConfigurationTarget.Workspace);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-exports-'));
    for (const f of inputs) fs.copyFileSync(workspacePath('digits', f), path.join(dir, f));
    // What an earlier CLI run with --out on the folder left beside the inputs.
    fs.copyFileSync(workspacePath('digits', 'digit-3-4.png'), path.join(dir, 'digit-0-0.gradcam.png'));
    window.showSaveDialog = async (options?: vscode.SaveDialogOptions) => {
      dialogs.push(options ?? {});
      return answer(options ?? {});
    };
  });

  after(async () => {
    window.showSaveDialog = realSaveDialog;
    window.showInformationMessage = realInformation;
    await vscode.workspace.getConfiguration('saliencyLens').update('model', undefined, vscode.ConfigurationTarget.Workspace);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('an export is proposed in the exports folder beside the image, which is made only once the user accepts', async () => {
    const image = path.join(dir, 'digit-7-29.png');
    const outcome = await vscode.commands.executeCommand<ExplainOutcome>('saliencyLens.explainImage', vscode.Uri.file(image));
    assert.ok(outcome?.ok, `explained: ${outcome?.error}`);
    const panel = (await api()).panels().find((p) => p.image.fsPath === image);
    assert.ok(panel, 'the panel of the image');
    // The webview's export message, handed to the panel as the webview delivers it.
    const deliver = (m: WebviewToHost) => (panel as unknown as { onMessage(m: WebviewToHost): Promise<void> }).onMessage(m);
    const exportsDir = path.join(dir, EXPORTS_FOLDER, 'fresh');
    assert.ok(!fs.existsSync(path.join(dir, EXPORTS_FOLDER)));

    // Cancelled: nothing is written, no folder is made.
    dialogs = [];
    answer = () => undefined;
    await deliver({ type: 'exportPng', dataUrl: `data:image/png;base64,${PIXEL_PNG}`, suggestedName: 'digit-7-29.saliency.png' });
    assert.equal(dialogs.length, 1, 'the save dialog asked');
    assert.equal(dialogs[0].defaultUri?.fsPath, path.join(dir, EXPORTS_FOLDER, 'digit-7-29.saliency.png'));
    assert.ok(!fs.existsSync(path.join(dir, EXPORTS_FOLDER)), 'no folder made for a cancelled export');

    // Accepted (here in a folder that does not exist yet): written there, the folder made.
    answer = () => vscode.Uri.file(path.join(exportsDir, 'digit-7-29.saliency.png'));
    await deliver({ type: 'exportPng', dataUrl: `data:image/png;base64,${PIXEL_PNG}`, suggestedName: 'digit-7-29.saliency.png' });
    assert.deepEqual(fs.readFileSync(path.join(exportsDir, 'digit-7-29.saliency.png')), Buffer.from(PIXEL_PNG, 'base64'));
    assert.deepEqual(fs.readdirSync(dir).sort(), [...inputs, 'digit-0-0.gradcam.png', EXPORTS_FOLDER].sort(), 'nothing written beside the inputs');
    // An export of the raw map goes the same way.
    answer = (o) => o.defaultUri;
    await deliver({
      type: 'exportNpy', method: 'saliency', suggestedName: 'digit-7-29.saliency.npy', imageWidth: 2, imageHeight: 2,
      map: { width: 1, height: 1, data: Buffer.from(new Float32Array([0.5]).buffer).toString('base64') },
    });
    assert.equal(dialogs.at(-1)?.defaultUri?.fsPath, path.join(dir, EXPORTS_FOLDER, 'digit-7-29.saliency.npy'));
    assert.ok(fs.existsSync(path.join(dir, EXPORTS_FOLDER, 'digit-7-29.saliency.npy')));
  });

  it('Explain Folder explains only the inputs, not the exports folder or the overlays beside them; Save Report As copies the report', async () => {
    // An image in the exports folder (a copy the user saved there): not an input either.
    fs.mkdirSync(path.join(dir, EXPORTS_FOLDER), { recursive: true });
    fs.copyFileSync(path.join(dir, 'digit-7-29.png'), path.join(dir, EXPORTS_FOLDER, 'digit-7-29-copy.png'));
    const offered: { message: string; items: string[] }[] = [];
    window.showInformationMessage = (async (message: string, ...items: unknown[]) => {
      const labels = items.filter((i): i is string => typeof i === 'string');
      offered.push({ message, items: labels });
      return /^Report of/.test(message) ? 'Save Report As…' : undefined;
    }) as typeof vscode.window.showInformationMessage;
    const saved = path.join(dir, EXPORTS_FOLDER, 'digits-report.html');
    answer = () => vscode.Uri.file(saved);
    const outcome = await vscode.commands.executeCommand<FolderReportOutcome>('saliencyLens.explainFolder', vscode.Uri.file(dir));
    assert.ok(outcome?.ok, outcome?.error);
    assert.equal(outcome.images, inputs.length);
    assert.equal(outcome.failed, 0);
    const html = fs.readFileSync(outcome.file!, 'utf8');
    const listed = [...html.matchAll(/<tr><td><a href="#[^"]+">([^<]+)<\/a><\/td>/g)].map((m) => m[1]);
    assert.deepEqual(listed, inputs, 'the summary lists exactly the inputs');
    // The notification offered Save Report As…; the copy lands where the user said, byte for byte.
    await until(() => fs.existsSync(saved), 'the saved report');
    assert.ok(offered.find((o) => o.message.startsWith('Report of 2 images'))?.items.includes('Save Report As…'), JSON.stringify(offered));
    assert.equal(dialogs.at(-1)?.defaultUri?.fsPath, path.join(dir, EXPORTS_FOLDER, path.basename(outcome.file!)), 'proposed in the exports folder');
    await until(() => fs.statSync(saved).size === fs.statSync(outcome.file!).size, 'the copy complete');
    assert.equal(fs.readFileSync(saved, 'utf8'), html);
    await until(() => offered.some((o) => o.message.startsWith('Report saved as')), 'the saved notice');
  });
});
