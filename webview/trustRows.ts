/**
 * Where a trust table row stands, from what the view knows of its key: its map (or why there is none), its
 * measures (numbers, their own sentences, a failed request's), the request in flight and the user's Cancel. The
 * view (methods.ts) gathers these; this decides the row's status, what it says while it waits, and which of its
 * failures Retry failed can ask again.
 */
import { SCALARS, type Measure } from '../src/shared/measures';
import type { MethodName } from '../src/shared/methods';
import type { MethodResult } from './methodResults';
import { rowValues, type TrustRowView } from './trustTable';
import { onlyMeasures, type EvaluationStore } from './trustResults';

export interface RowFacts {
  method: MethodName;
  /** The row's place among the shown methods: its curves' colour and mark. */
  index: number;
  key: string;
  result?: MethodResult;
  /** Why the map could not be made. */
  mapError?: string;
  evaluations: EvaluationStore;
  ticked: readonly Measure[];
  /** The kind of the request in flight for this key, if one is. */
  inFlight?: 'map' | 'evaluate';
  /** What that request is doing ("Measuring 2 of 9: …"). */
  busy: string;
  cancelled: boolean;
}

export function trustRow(f: RowFacts): TrustRowView {
  const { key, ticked, evaluations } = f;
  // Unticked measures are hidden, not forgotten: ticked again, they show without a request.
  const evaluation = onlyMeasures(evaluations.get(key), ticked);
  const errors = evaluations.errors(key, ticked);
  const row: TrustRowView = { method: f.method, key, result: f.result, evaluation, ticked, errors, color: f.index, status: 'queued' };
  const failure = evaluations.failure(key);
  // A failed request's sentence can be asked again; a measure's own sentence (e.g. a constant map) is its answer.
  const retriable = ticked.filter((m) => errors[m] !== undefined && errors[m] === failure && !evaluation?.errors?.[m]);
  if (retriable.length) row.retriable = retriable;
  if (f.mapError) {
    // The engine cannot make the map: no measure can run on it.
    Object.assign(row, { status: 'error', error: f.mapError, errors: Object.fromEntries(ticked.map((m) => [m, f.mapError])), retriable: ticked });
  } else if (f.inFlight) {
    row.status = f.inFlight === 'map' ? 'computing' : 'measuring';
    row.activity = f.busy;
  } else if (!f.result || evaluations.missing(key, ticked).length) {
    row.status = f.cancelled ? 'cancelled' : 'queued';
    row.activity = f.cancelled ? 'Cancelled: Compute measures it.' : 'Waiting…';
  } else if (failure && !SCALARS.some((s) => rowValues(evaluation)[s.name] !== null)) {
    // The request failed as a whole and nothing was measured: the row says why, in one sentence.
    Object.assign(row, { status: 'error', error: failure });
  } else {
    row.status = ticked.length ? 'measured' : 'drawn';
  }
  return row;
}
