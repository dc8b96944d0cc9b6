// A large image in the real extension host: the panel is sent a display-sized copy (not the file), the
// explanation reports the image's real size, and a raw map exported from it is at that real size.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { PNG } from 'pngjs';
import { imageSize } from 'image-size';
import type { ExplainOutcome } from '../../../src/host/commands';
import type { WebviewToHost } from '../../../src/shared/protocol';
import { api, EXTENSION_ID, workspacePath } from './workbench';

const W = 5000;
const H = 2500;

/** The (rows, cols) shape in a .npy header. */
function npyShape(bytes: Buffer): number[] {
  const header = bytes.subarray(10, 10 + bytes.readUInt16LE(8)).toString('latin1');
  const m = /'shape': \(([^)]*)\)/.exec(header);
  assert.ok(m, `a shape in ${header}`);
  return m[1].split(',').filter((s) => s.trim()).map(Number);
}

describe('Big images', function () {
  this.timeout(120_000);
  const window = vscode.window as { -readonly [K in keyof typeof vscode.window]: (typeof vscode.window)[K] };
  const realSaveDialog = window.showSaveDialog;
  let dir = '';

  before(async () => {
    await vscode.workspace.getConfiguration('saliencyLens').update('model', workspacePath('mnist-cnn'), vscode.ConfigurationTarget.Workspace);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'saliency-big-'));
  });

  after(async () => {
    window.showSaveDialog = realSaveDialog;
    await vscode.workspace.getConfiguration('saliencyLens').update('model', undefined, vscode.ConfigurationTarget.Workspace);
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a 5000×2500 PNG: display copy at most 2048 px, real size in the explanation and in the .npy export', async () => {
    const png = new PNG({ width: W, height: H });
    for (let i = 0; i < W * H; i++) png.data.set([(i % W) % 256, 60, 120, 255], i * 4);
    const image = path.join(dir, 'wide.png');
    fs.writeFileSync(image, PNG.sync.write(png, { deflateLevel: 1 }));

    const outcome = await vscode.commands.executeCommand<ExplainOutcome>('saliencyLens.explainImage', vscode.Uri.file(image));
    assert.ok(outcome?.ok, `explained: ${outcome?.error}`);
    assert.deepEqual([outcome.result?.imageWidth, outcome.result?.imageHeight], [W, H], 'the real size');

    const panel = (await api()).panels().find((p) => p.image.fsPath === image);
    assert.ok(panel, 'the panel of the image');
    const url = await panel.imageDataUrl();
    const picture = Buffer.from(url.slice(url.indexOf(',') + 1), 'base64');
    const size = imageSize(picture);
    assert.deepEqual([size.width, size.height], [2048, 1024], 'a display-sized copy, aspect ratio kept');

    const map = outcome.result!.maps[0];
    const saved = path.join(dir, 'wide.npy');
    window.showSaveDialog = async () => vscode.Uri.file(saved);
    const deliver = (m: WebviewToHost) => (panel as unknown as { onMessage(m: WebviewToHost): Promise<void> }).onMessage(m);
    // What the webview sends: the map as computed and the explanation's image size.
    await deliver({
      type: 'exportNpy', method: map.method, suggestedName: 'wide.npy', imageWidth: outcome.result!.imageWidth, imageHeight: outcome.result!.imageHeight,
      map: { width: map.width, height: map.height, data: map.data },
    } as WebviewToHost);
    assert.deepEqual(npyShape(fs.readFileSync(saved)), [H, W], 'the raw map at the real size');
  });

  it('a PNG, WebP or JPEG that states EXIF orientation 6 is shown upright, as the engine explains it', async () => {
    for (const name of ['orient-6.png', 'orient-6.webp', 'orient-6.jpg']) {
      const image = path.join(dir, name);
      fs.copyFileSync(path.join(vscode.extensions.getExtension(EXTENSION_ID)!.extensionPath, 'test', 'fixtures', 'images', name), image);
      const stored = imageSize(fs.readFileSync(image));
      assert.deepEqual([stored.width, stored.height], [32, 48], `${name} is stored on its side`);
      const outcome = await vscode.commands.executeCommand<ExplainOutcome>('saliencyLens.explainImage', vscode.Uri.file(image));
      assert.ok(outcome?.ok, `explained: ${outcome?.error}`);
      assert.deepEqual([outcome.result?.imageWidth, outcome.result?.imageHeight], [48, 32], `${name}: explained upright`);
      const panel = (await api()).panels().find((p) => p.image.fsPath === image);
      const url = await panel!.imageDataUrl();
      const shown = imageSize(Buffer.from(url.slice(url.indexOf(',') + 1), 'base64'));
      // The picture the webview draws is upright itself (re-encoded by the engine), not a file a browser may or may not turn.
      assert.deepEqual([shown.width, shown.height, shown.orientation ?? 1], [48, 32, 1], `${name}: the panel's picture`);
    }
  });
});
