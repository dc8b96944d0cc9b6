import * as vscode from 'vscode';
import { ENGINE, EngineOpenParams, ModelInfoMsg } from '../shared/protocol';
import { modelName } from '../shared/modelText';
import { EngineCancelled, EngineClient } from './engineClient';

/** A load in flight, shared by every panel that asked for the same model the same way. */
interface SharedLoad {
  key: string;
  result: Promise<ModelInfoMsg>;
  /** Panels still waiting for it: when the last one stops waiting, the load is cancelled. */
  waiting: number;
  cancel: vscode.CancellationTokenSource;
  notified: boolean;
  /** When the engine request was sent (Date.now()). */
  startedAt: number;
}

/** Loads that have ended (their token source disposed: not to be cancelled again). */
const settledLoads = new WeakSet<SharedLoad>();

/**
 * Model loads shared across panels: panels that open the same model (a model switch with several panels
 * open, panels restored together) share one engine request and one "loading" notification, shown only if
 * the load takes longer than a moment.
 */
export class ModelLoads {
  private readonly inFlight = new Map<string, SharedLoad>();
  /** Loads started and notifications shown (tests count them). */
  started = 0;
  notifications = 0;
  /** How long a load runs before its notification shows. */
  progressDelayMs = 400;

  constructor(private readonly engine: EngineClient) {}

  /**
   * The model, loaded once for every caller asking for it meanwhile. `token` cancels this caller's wait (and the
   * load, once nobody waits for it); `notify` shows the cancellable notification if the load is slow. With
   * `notBefore` (a time), a load sent earlier is not joined: it may have read the files before they changed.
   */
  load(params: EngineOpenParams, token?: vscode.CancellationToken, notify = true, notBefore?: number): Promise<ModelInfoMsg> {
    const key = JSON.stringify([params.modelPath, params.preprocessing ?? '', params.preprocessingSource ?? '']);
    let shared = this.inFlight.get(key);
    if (shared && notBefore !== undefined && shared.startedAt < notBefore) shared = undefined;
    if (!shared) {
      const cancel = new vscode.CancellationTokenSource();
      const entry: SharedLoad = {
        key, result: this.engine.request(ENGINE.open, params, cancel.token), waiting: 0, cancel, notified: false, startedAt: Date.now(),
      };
      this.started++;
      // Registered before any waiter's callbacks, so it runs first: a finished load is never cancelled.
      const done = () => {
        settledLoads.add(entry);
        if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
        cancel.dispose();
      };
      entry.result.then(done, done);
      this.inFlight.set(key, entry);
      shared = entry;
    }
    const load = shared;
    if (notify) this.notifyWhenSlow(load, params.modelPath);
    return this.wait(load, token);
  }

  private wait(load: SharedLoad, token?: vscode.CancellationToken): Promise<ModelInfoMsg> {
    load.waiting++;
    return new Promise<ModelInfoMsg>((resolve, reject) => {
      let left = false;
      const leave = () => {
        if (left) return false;
        left = true;
        sub?.dispose();
        if (--load.waiting === 0 && !settledLoads.has(load)) {
          // Nobody waits any more: stop it, and let the next caller start afresh.
          if (this.inFlight.get(load.key) === load) this.inFlight.delete(load.key);
          load.cancel.cancel();
        }
        return true;
      };
      const sub = token?.onCancellationRequested(() => leave() && reject(new EngineCancelled()));
      if (token?.isCancellationRequested) {
        leave();
        reject(new EngineCancelled());
        return;
      }
      load.result.then(
        (info) => {
          if (leave()) resolve(info);
        },
        (err) => {
          if (leave()) reject(err);
        });
    });
  }

  /** One notification per load, whoever asks: shown once the load has run for a moment, closed when it ends. */
  private notifyWhenSlow(load: SharedLoad, modelPath: string): void {
    if (load.notified) return;
    load.notified = true;
    let settled = false;
    void load.result.catch(() => undefined).finally(() => (settled = true));
    setTimeout(() => {
      if (settled) return;
      this.notifications++;
      void vscode.window.withProgress({
        location: vscode.ProgressLocation.Notification, title: `Saliency Lens: loading ${modelName(modelPath)}`, cancellable: true,
      }, (_, token) => {
        token.onCancellationRequested(() => load.cancel.cancel());
        return load.result.catch(() => undefined);
      });
    }, this.progressDelayMs);
  }
}
