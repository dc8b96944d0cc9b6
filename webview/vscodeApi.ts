/** The webview side of the VS Code API: typed messages to the host and persisted state. */
import type { WebviewToHost } from '../src/shared/protocol';


interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

let api: VsCodeApi | undefined;

/** acquireVsCodeApi may be called only once per page. */
function vscode(): VsCodeApi {
  if (!api) api = acquireVsCodeApi();
  return api;
}

/** Posts to the host; the explain panel's messages by default, the compare view's when typed so. */
export function post<T = WebviewToHost>(message: T): void {
  vscode().postMessage(message);
}

export function loadState(): unknown {
  return vscode().getState();
}

export function saveState(state: unknown): void {
  vscode().setState(state);
}
