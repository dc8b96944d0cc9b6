import * as cp from 'node:child_process';
import * as vscode from 'vscode';
import { CancellationTokenSource, createMessageConnection, IPCMessageReader, IPCMessageWriter, MessageConnection, ResponseError } from 'vscode-jsonrpc/node';
import { USER_ERROR_CODE } from '../shared/protocol';

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
  exited: Promise<string>;
}

/**
 * Starts the engine process on first use and talks JSON-RPC to it. The engine computes
 * synchronously, so cancelling a request means stopping the process; the next request starts a
 * fresh one. An unexpected exit fails the pending request with EngineCrashed and is logged.
 */
export class EngineClient implements vscode.Disposable {
  private running?: Running;
  private starts = 0;
  private readonly onDidCrashEmitter = new vscode.EventEmitter<string>();
  /** Fires with a one-sentence reason when the engine dies unexpectedly. */
  readonly onDidCrash = this.onDidCrashEmitter.event;

  constructor(private readonly scriptPath: string, private readonly log: vscode.LogOutputChannel) {}

  get pid(): number | undefined {
    return this.running?.child.pid;
  }

  /** How many times the engine was started again after the first time. */
  get restartCount(): number {
    return Math.max(this.starts - 1, 0);
  }

  private start(): Running {
    const child = cp.fork(this.scriptPath, [], {
      // The extension host is Electron: run the engine as plain Node.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      execArgv: [],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    child.stdout?.on('data', (d: Buffer) => this.log.info(`[engine] ${d.toString().trimEnd()}`));
    child.stderr?.on('data', (d: Buffer) => this.log.warn(`[engine] ${d.toString().trimEnd()}`));
    const connection = createMessageConnection(new IPCMessageReader(child), new IPCMessageWriter(child));
    connection.listen();
    const running: Running = {
      child,
      connection,
      stopping: false,
      exited: new Promise((resolve) => {
        child.on('exit', (code, signal) => {
          const reason = signal ? `signal ${signal}` : `exit code ${code}`;
          connection.dispose();
          if (this.running === running) this.running = undefined;
          if (!running.stopping) {
            this.log.error(`engine process ${child.pid} stopped unexpectedly (${reason})`);
            this.onDidCrashEmitter.fire(`The Saliency Lens engine stopped unexpectedly (${reason}${signal === 'SIGKILL' ? ', perhaps out of memory' : ''}); it restarts on the next request.`);
          }
          resolve(reason);
        });
      }),
    };
    this.log.info(`engine process ${child.pid} started`);
    return running;
  }

  /** Sends a request; the token cancels it by stopping the engine. */
  async request<R>(method: string, params: unknown, token?: vscode.CancellationToken): Promise<R> {
    if (!this.running) {
      this.starts++;
      this.running = this.start();
    }
    const running = this.running;
    if (token?.isCancellationRequested) throw new EngineCancelled();
    const rpcToken = new CancellationTokenSource();
    const cancelled = new Promise<never>((_, reject) => {
      token?.onCancellationRequested(() => {
        this.log.info(`cancelling ${method}: stopping engine process ${running.child.pid}`);
        this.stop(running);
        reject(new EngineCancelled());
      });
    });
    const crashed = running.exited.then((reason) => {
      if (running.stopping) throw new EngineCancelled();
      throw new EngineCrashed(`The Saliency Lens engine stopped while working (${reason}).`);
    });
    try {
      const t0 = Date.now();
      const result = await Promise.race([running.connection.sendRequest<R>(method, params, rpcToken.token), cancelled, crashed]);
      this.log.debug(`${method} took ${Date.now() - t0} ms`);
      return result;
    } catch (err) {
      if (err instanceof ResponseError) {
        if (err.code === USER_ERROR_CODE) throw new EngineUserError(err.message);
        this.log.error(`${method} failed: ${err.message}`);
        throw new Error(err.message);
      }
      throw err;
    } finally {
      rpcToken.dispose();
    }
  }

  private stop(running: Running): void {
    running.stopping = true;
    // Forget it now: the next request must not reach a process that is on its way out.
    if (this.running === running) this.running = undefined;
    running.child.kill();
  }

  /** Stops the engine (tests use it to simulate a crash: pass crash=true). */
  dispose(): void {
    if (this.running) this.stop(this.running);
    this.onDidCrashEmitter.dispose();
  }
}
