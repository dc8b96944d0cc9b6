// What every integration suite needs inside the extension host: the workspace's files and the extension's API.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { SaliencyLensApi } from '../../../src/extension';

export const EXTENSION_ID = 'saliency-lens.saliency-lens';

/** The opened workspace is the repository's examples/ folder (a copy of it). */
export function workspacePath(...parts: string[]): string {
  const root = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  assert.ok(root, 'a workspace folder is open');
  return path.join(root, ...parts);
}

export async function api(): Promise<SaliencyLensApi> {
  const ext = vscode.extensions.getExtension<SaliencyLensApi>(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed`);
  return ext.activate();
}
