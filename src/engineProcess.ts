/**
 * The engine process: forked by the extension host (ELECTRON_RUN_AS_NODE=1) so that tensor work never
 * blocks the editor, a crash or out-of-memory takes only this process down, and killing it cancels.
 * Talks JSON-RPC over the IPC channel.
 */
import { createMessageConnection, IPCMessageReader, IPCMessageWriter, ResponseError, ErrorCodes } from 'vscode-jsonrpc/node';
import { initBackend } from './engine/backend';
import { UserError } from './engine/errors';
import { ExplainService } from './engine/service';
import { ENGINE, ENGINE_PARTIAL, ENGINE_PROGRESS, EnginePartialMsg, EngineProgressMsg, EngineRequest, USER_ERROR_CODE } from './shared/protocol';

const connection = createMessageConnection(new IPCMessageReader(process), new IPCMessageWriter(process));
/** Long methods report progress, and explain requests their results as they come; the host shows them on the request. */
const service = new ExplainService(
  (p: EngineProgressMsg) => void connection.sendNotification(ENGINE_PROGRESS, p),
  (p: EnginePartialMsg) => void connection.sendNotification(ENGINE_PARTIAL, p),
  // The extension passes its saliencyLens.exifOrientation setting (and restarts this process when it changes).
  { exifOrientation: process.env.SALIENCY_LENS_EXIF_ORIENTATION !== 'off' },
);

/** User errors keep their one sentence; anything else is an internal error with its message. */
function asResponseError(err: unknown): ResponseError<void> {
  if (err instanceof UserError) return new ResponseError(USER_ERROR_CODE, err.message);
  const message = err instanceof Error ? err.message : String(err);
  console.error(err instanceof Error ? err.stack : message);
  return new ResponseError(ErrorCodes.InternalError, message);
}

async function handle<T>(work: () => Promise<T>): Promise<T | ResponseError<void>> {
  try {
    return await work();
  } catch (err) {
    return asResponseError(err);
  }
}

function serve<P, R>(request: EngineRequest<P, R>, work: (params: P) => Promise<R>): void {
  connection.onRequest(request.method, (params: P) => handle(() => work(params)));
}

serve(ENGINE.info, async () => {
  const backend = await initBackend();
  return { pid: process.pid, backend: { name: backend.name, threads: backend.threads, note: backend.note } };
});
serve(ENGINE.open, (p) => service.open(p));
serve(ENGINE.explain, (p) => service.explain(p));
serve(ENGINE.compare, (p) => service.compare(p));
serve(ENGINE.modelInput, (p) => service.modelInput(p));
serve(ENGINE.reportEntry, (p) => service.reportEntry(p));
serve(ENGINE.displayImage, (p) => service.displayImage(p));
serve(ENGINE.evaluate, (p) => service.evaluate(p));
connection.onClose(() => {
  service.dispose();
  process.exit(0);
});
connection.listen();
