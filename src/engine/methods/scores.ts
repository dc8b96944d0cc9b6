import type { OutputActivation } from '../runtimes/types';
import type { AttributionTarget } from './types';

/**
 * Class probabilities of one row of logits, as the model's own head gives them: a sigmoid per class for
 * sigmoid outputs, else the softmax (also for 'none': logits read as a softmax classifier's).
 */
export function probabilities(logits: ArrayLike<number>, activation: OutputActivation): Float64Array {
  const n = logits.length;
  const out = new Float64Array(n);
  if (activation === 'sigmoid') {
    for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-logits[i]));
    return out;
  }
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += out[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < n; i++) out[i] /= sum;
  return out;
}

/**
 * What a perturbation method follows: 'logit' = seed·logits (the class logit, or S_a − S_b for a
 * contrast); 'probability' = the class probability, except for a contrast, where it is seed·logits too
 * (a difference of two probabilities would mix in every other class through the softmax's denominator).
 */
export type ScoreKind = 'logit' | 'probability';

/** The score of each row of a batch's logits (rows·classes values, row by row), in float64. */
export function targetScores(logits: Float32Array, classes: number, target: AttributionTarget, kind: ScoreKind, activation: OutputActivation): Float64Array {
  const rows = logits.length / classes;
  const out = new Float64Array(rows);
  const useLogits = kind === 'logit' || target.contrast !== undefined;
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * classes, (r + 1) * classes);
    if (useLogits) {
      let s = 0;
      for (let c = 0; c < classes; c++) if (target.seed[c] !== 0) s += target.seed[c] * row[c];
      out[r] = s;
    } else {
      out[r] = activation === 'sigmoid'
        ? 1 / (1 + Math.exp(-row[target.classIndex]))
        : probabilities(row, activation)[target.classIndex];
    }
  }
  return out;
}
