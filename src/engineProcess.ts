/**
 * The engine process: forked by the extension host (ELECTRON_RUN_AS_NODE=1) so that tensor work never
 * blocks the editor, a crash or out-of-memory takes only this process down, and killing it cancels.
 * Talks JSON-RPC over the IPC channel.
 */
import { createMessageConnection, IPCMessageReader, IPCMessageWriter, ResponseError, ErrorCodes } from 'vscode-jsonrpc/node';
import { initBackend } from './engine/backend';
import { UserError } from './engine/errors';
import { ExplainService } from './engine/service';
import {
  ENGINE_COMPARE, EngineCompareParams, ENGINE_EXPLAIN, ENGINE_INFO, ENGINE_MODEL_INPUT, ENGINE_OPEN, ENGINE_REPORT_ENTRY, EngineExplainParams, EngineOpenParams, EngineReportEntryParams, USER_ERROR_CODE,
} from './shared/protocol';

const connection = createMessageConnection(new IPCMessageReader(process), new IPCMessageWriter(process));
const service = new ExplainService();

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

connection.onRequest(ENGINE_INFO, () => handle(async () => ({ pid: process.pid, backend: await initBackend() })));
connection.onRequest(ENGINE_OPEN, (params: EngineOpenParams) => handle(() => service.open(params)));
connection.onRequest(ENGINE_EXPLAIN, (params: EngineExplainParams) => handle(() => service.explain(params)));
connection.onRequest(ENGINE_COMPARE, (params: EngineCompareParams) => handle(() => service.compare(params)));
connection.onRequest(ENGINE_MODEL_INPUT, (params: EngineExplainParams) => handle(() => service.modelInput(params)));
connection.onRequest(ENGINE_REPORT_ENTRY, (params: EngineReportEntryParams) => handle(() => service.reportEntry(params)));
connection.onClose(() => {
  service.dispose();
  process.exit(0);
});
connection.listen();
