import * as cp from 'node:child_process';
import * as vscode from 'vscode';
import { createMessageConnection, IPCMessageReader, IPCMessageWriter, MessageConnection, ResponseError } from 'vscode-jsonrpc/node';
import { ENGINE_PARTIAL, ENGINE_PROGRESS, EnginePartialMsg, EngineProgressMsg, EngineRequest, ExplainPartial, USER_ERROR_CODE } from '../shared/protocol';

/** A failure the user can act on, reported by the engine as one sentence. */
export class EngineUserError extends Error {
  override name = 'EngineUserError';
}

/** The request was cancelled (the engine was stopped to abandon it). */
export class EngineCancelled extends Error {
  override name = 'EngineCancelled';
  constructor() {
    super('Cancelled.');
  }
}

/** The engine process died while working (e.g. out of memory). */
export class EngineCrashed extends Error {
  override name = 'EngineCrashed';
}

interface Running {
  child: cp.ChildProcess;
  connection: MessageConnection;
  /** Set when we stop the process on purpose (cancel, dispose), so its exit is not a crash. */
  stopping: boolean;
  /** Why the process ended, once it has. */
  exitReason?: string;
  /** Resolves when the process has ended. */
  ended: Promise<void>;
  /**
   * The listeners of the requests running on it, by the progressId each request carries. One notification
   * handler per kind routes them all (the connection keeps one handler per notification name).
   */
  listeners: Map<number, RequestListeners>;
}

/** What a request hears while it runs: progress of long methods, and results ready before the answer. */
export interface RequestListeners {
  progress?: (p: EngineProgressMsg) => void;
  partial?: (p: ExplainPartial) => void;
}

/** The engine was stopped for someone else's cancel: the request was fine and is sent again. */
class StoppedByOther extends Error {
  constructor(method: string) {
    super(`The Saliency Lens engine was restarted ${MAX_ATTEMPTS} times for other requests' cancellations while ${method} waited; try again.`);
  }
}

/**
 * Times a request is sent when the engine keeps being stopped for other requests' cancels (a preset change
 * cancels the panel's and every view's requests, each stop restarting the engine under the others).
 */
const MAX_ATTEMPTS = 8;

/**
 * Starts the engine process on first use and talks JSON-RPC to it. The engine computes
 * synchronously, so cancelling a request means stopping the process; the next request starts a
 * fresh one. An unexpected exit fails the pending requests with EngineCrashed and is logged.
 */
export class EngineClient implements vscode.Disposable {
  private running?: Running;
  private starts = 0;
  private progressIds = 0;
  private disposed = false;
  private readonly onDidCrashEmitter = new vscode.EventEmitter<string>();
  /** Fires with a one-sentence reason when the engine dies unexpectedly. */
  readonly onDidCrash = this.onDidCrashEmitter.event;

  /** @param env variables the engine process starts with (settings it reads once, e.g. the runtime choice) */
  constructor(private readonly scriptPath: string, private readonly log: vscode.LogOutputChannel,
    private readonly env: () => Record<string, string> = () => ({})) {}

  get pid(): number | undefined {
    return this.running?.child.pid;
  }

  /** How many times the engine was started again after the first time. */
  get restartCount(): number {
    return Math.max(this.starts - 1, 0);
  }

  private start(): Running {
    this.starts++;
    const child = cp.fork(this.scriptPath, [], {
      // The extension host is Electron: run the engine as plain Node.
      env: { ...process.env, ...this.env(), ELECTRON_RUN_AS_NODE: '1' },
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.stdout?.on('data', (d: Buffer) => this.log.info(`[engine] ${d.toString().trimEnd()}`));
    child.stderr?.on('data', (d: Buffer) => this.log.warn(`[engine] ${d.toString().trimEnd()}`));
    const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    connection.listen();
    let resolveEnded!: () => void;
    const running: Running = { child, connection, stopping: false, ended: new Promise((r) => (resolveEnded = r)), listeners: new Map() };
    connection.onNotification(ENGINE_PROGRESS, (p: EngineProgressMsg) => {
      if (p.progressId !== undefined) running.listeners.get(p.progressId)?.progress?.(p);
    });
    connection.onNotification(ENGINE_PARTIAL, ({ progressId, ...partial }: EnginePartialMsg) => {
      if (progressId !== undefined) running.listeners.get(progressId)?.partial?.(partial as ExplainPartial);
    });
    const ended = (reason: string) => {
      if (running.exitReason) return;
      resolveEnded();
      // Recorded before the connection rejects the pending requests, so they can tell a crash from a stop.
      running.exitReason = reason;
      if (this.running === running) this.running = undefined;
      connection.dispose();
      if (!running.stopping) {
        this.log.error(`engine process ${child.pid} stopped unexpectedly (${reason})`);
        this.onDidCrashEmitter.fire(`The Saliency Lens engine stopped unexpectedly (${reason}${reason.includes('SIGKILL') ? ', perhaps out of memory' : ''}); it restarts on the next request.`);
      }
    };
    child.on('exit', (code, signal) => ended(signal ? `signal ${signal}` : `exit code ${code}`));
    // A fork that fails (EAGAIN, ENOMEM) may emit only 'error'.
    child.on('error', (err) => ended(`could not run: ${err.message}`));
    this.log.info(`engine process ${child.pid} started`);
    return running;
  }

  /**
   * Sends a request; the token cancels it by stopping the engine. Retried once if another request's cancel
   * stopped it. `listen` hears the engine's progress (a function), or progress and partial results, while
   * this request runs.
   */
  async request<P, R>(request: EngineRequest<P, R>, params: P, token?: vscode.CancellationToken,
    listen?: RequestListeners | ((p: EngineProgressMsg) => void)): Promise<R> {
    const method = request.method;
    const listeners = typeof listen === 'function' ? { progress: listen } : listen;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.attempt<R>(method, params, token, listeners);
      } catch (err) {
        if (!(err instanceof StoppedByOther) || attempt === MAX_ATTEMPTS) throw err;
        this.log.info(`${method}: engine was stopped for another request; sending again`);
      }
    }
  }

  private async attempt<R>(method: string, params: unknown, token?: vscode.CancellationToken, listeners?: RequestListeners): Promise<R> {
    if (token?.isCancellationRequested || this.disposed) throw new EngineCancelled();
    const running = this.running ?? (this.running = this.start());
    let cancelledHere = false;
    let rejectCancelled!: (e: Error) => void;
    // The caller's cancel settles the request at once, whatever the dying process still sends.
    const cancelled = new Promise<never>((_, reject) => (rejectCancelled = reject));
    cancelled.catch(() => undefined);
    const subscription = token?.onCancellationRequested(() => {
      cancelledHere = true;
      this.log.info(`cancelling ${method}: stopping engine process ${running.child.pid}`);
      this.stop(running);
      rejectCancelled(new EngineCancelled());
    });
    // A request that listens carries an id the engine's progress and partial notifications echo.
    const progressId = listeners && typeof params === 'object' && params !== null ? ++this.progressIds : undefined;
    if (progressId !== undefined) running.listeners.set(progressId, listeners!);
    const sent = progressId !== undefined ? { ...(params as object), progressId } : params;
    const t0 = Date.now();
    try {
      const result = await Promise.race([running.connection.sendRequest<R>(method, sent), cancelled]);
      this.log.debug(`${method} took ${Date.now() - t0} ms`);
      return result;
    } catch (err) {
      // The IPC channel can close a moment before 'exit' arrives: give the exit a second to be recorded.
      if (!running.stopping && !running.exitReason && !running.child.connected) {
        await Promise.race([running.ended, new Promise((r) => setTimeout(r, 1000))]);
      }
      if (cancelledHere || this.disposed) throw new EngineCancelled();
      if (running.stopping) throw new StoppedByOther(method);
      if (running.exitReason) throw new EngineCrashed(`The Saliency Lens engine stopped while working (${running.exitReason}).`);
      if (err instanceof ResponseError) {
        if (err.code === USER_ERROR_CODE) throw new EngineUserError(err.message);
        this.log.error(`${method} failed: ${err.message}`);
        throw new Error(err.message);
      }
      throw err;
    } finally {
      subscription?.dispose();
      if (progressId !== undefined) running.listeners.delete(progressId);
    }
  }

  private stop(running: Running): void {
    running.stopping = true;
    // Forget it now: the next request must not reach a process that is on its way out.
    if (this.running === running) this.running = undefined;
    running.child.kill();
  }

  /** Stops the engine so the next request starts a fresh one (with the current settings). */
  restart(): void {
    if (this.running) this.stop(this.running);
  }

  dispose(): void {
    this.disposed = true;
    if (this.running) this.stop(this.running);
    this.onDidCrashEmitter.dispose();
  }
}
