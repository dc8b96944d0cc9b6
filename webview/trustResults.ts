/**
 * The trust tab's results: one evaluation per result key (the same key as the method's map: model version, image
 * version, class, layer, method call), merged measure by measure so that ticking another measure later adds to the
 * row instead of replacing it; the requests that failed as a whole, with the measures they asked; and, from both,
 * what a row still lacks.
 */
import { MEASURES, type Measure, type MethodEvaluation, type ScalarSpec } from '../src/shared/measures';
import type { MethodName } from '../src/shared/methods';

/**
 * The MethodEvaluation fields each measure fills: the one mapping that says whether a measure is there, what an
 * answer replaces, what an unticked measure hides and which curve a column's tooltip reads.
 */
export const MEASURE_FIELDS = {
  curves: ['deletion', 'insertion'],
  road: ['road'],
  stability: ['stability'],
  randomization: ['randomization'],
} as const satisfies Record<Measure, readonly (keyof MethodEvaluation)[]>;

type ResultField = (typeof MEASURE_FIELDS)[Measure][number];

const RESULT_FIELDS: readonly ResultField[] = MEASURES.flatMap((m) => MEASURE_FIELDS[m]);

/** The curve behind a SCALARS column, for the columns that summarize one (its random-order AUC is the chance level). */
export const SCALAR_CURVES: Partial<Record<ScalarSpec['name'], 'deletion' | 'insertion'>> = { deletionAuc: 'deletion', insertionAuc: 'insertion' };


/** Whether `e` holds the result of `measure` (curves: both deletion and insertion). */
export function hasMeasure(e: MethodEvaluation | undefined, measure: Measure): boolean {
  return !!e && MEASURE_FIELDS[measure].every((f) => e[f] !== undefined);
}

/** `next` over `old`: measures `next` answered replace theirs (and their old errors); the rest stay. */
export function mergeEvaluation(old: MethodEvaluation | undefined, next: MethodEvaluation, asked: readonly Measure[]): MethodEvaluation {
  if (!old) return next;
  const errors: Partial<Record<Measure, string>> = { ...old.errors };
  for (const m of asked) delete errors[m];
  Object.assign(errors, next.errors);
  const merged: MethodEvaluation = {
    ...old, method: next.method, label: next.label, options: next.options, ms: { ...old.ms, ...next.ms },
    errors: Object.keys(errors).length ? errors : undefined,
  };
  for (const f of RESULT_FIELDS) Object.assign(merged, { [f]: next[f] ?? old[f] });
  return merged;
}

/** `e` with only the `ticked` measures (and their errors): what the table and the curves show. */
export function onlyMeasures(e: MethodEvaluation | undefined, ticked: readonly Measure[]): MethodEvaluation | undefined {
  if (!e) return undefined;
  const on = (m: Measure) => ticked.includes(m);
  const errors = Object.fromEntries(Object.entries(e.errors ?? {}).filter(([m]) => on(m as Measure)));
  const shown: MethodEvaluation = { ...e, errors: Object.keys(errors).length ? errors : undefined };
  for (const m of MEASURES) if (!on(m)) for (const f of MEASURE_FIELDS[m]) shown[f] = undefined;
  return shown;
}

interface Failure {
  method: MethodName;
  message: string;
  measures: Set<Measure>;
}

/** Evaluations are a few kilobytes each; past this many the least recently stored go first. */
const MAX_ENTRIES = 1000;

export class EvaluationStore {
  private readonly results = new Map<string, MethodEvaluation>();
  private readonly failures = new Map<string, Failure>();

  get(key: string): MethodEvaluation | undefined {
    return this.results.get(key);
  }

  /** Adds an answer to `asked` to what `key` holds. */
  merge(key: string, evaluation: MethodEvaluation, asked: readonly Measure[]): void {
    const merged = mergeEvaluation(this.results.get(key), evaluation, asked);
    this.results.delete(key);
    this.results.set(key, merged);
    const failure = this.failures.get(key);
    if (failure) for (const m of asked) failure.measures.delete(m);
    if (failure?.measures.size === 0) this.failures.delete(key);
    if (this.results.size > MAX_ENTRIES) this.results.delete(this.results.keys().next().value!);
  }

  /** The request for `asked` failed as a whole: those measures show `message` until the method is ticked again. */
  fail(key: string, method: MethodName, message: string, asked: readonly Measure[]): void {
    const failure = this.failures.get(key) ?? { method, message, measures: new Set<Measure>() };
    failure.message = message;
    for (const m of asked) failure.measures.add(m);
    this.failures.set(key, failure);
  }

  /** The sentence of the last failed request of `key`, if one failed. */
  failure(key: string): string | undefined {
    return this.failures.get(key)?.message;
  }

  /** Forgets the failures of these keys (Retry failed), so their measures are asked again. */
  retryKeys(keys: Iterable<string>): void {
    for (const key of keys) this.failures.delete(key);
  }

  /** Forgets the failures of `method`, so its measures are asked again. */
  retry(method: MethodName): void {
    for (const [key, f] of this.failures) if (f.method === method) this.failures.delete(key);
  }

  /** Per measure (of `ticked`, else all), why `key` has no number for it: the measure's own sentence, or its failed request's. */
  errors(key: string, ticked: readonly Measure[] = MEASURES): Partial<Record<Measure, string>> {
    const out: Partial<Record<Measure, string>> = {};
    const own = this.results.get(key)?.errors ?? {};
    const failure = this.failures.get(key);
    for (const m of ticked) {
      const why = own[m] ?? (failure?.measures.has(m) ? failure.message : undefined);
      if (why !== undefined) out[m] = why;
    }
    return out;
  }

  /** The ticked measures `key` has neither a result nor an error for: what its next request asks. */
  missing(key: string, ticked: readonly Measure[]): Measure[] {
    const e = this.results.get(key);
    const errors = this.errors(key);
    return ticked.filter((m) => !hasMeasure(e, m) && errors[m] === undefined);
  }
}
