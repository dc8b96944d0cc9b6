/**
 * The sensitivity note: does the top class survive a neighbouring preprocessing pipeline (image/pipeline/
 * neighbours.ts)? Forward runs only, one batch; reported only where the top class changes, so a note means the
 * map may tell a story that rests on a preprocessing detail the user should pin down.
 */
import * as tf from '@tensorflow/tfjs';
import type { DecodedImage } from './image/decode';
import { neighbourPipelines } from './image/pipeline/neighbours';
import { runPipeline } from './image/pipeline/run';
import { batchRunner } from './methods/batch';
import { probabilities } from './methods/scores';
import type { Explainer, Prediction } from './explain';

export interface PipelineDisagreement {
  /** How the neighbouring pipeline differs ("with half-pixel centres (TF2, PyTorch)"). */
  pipeline: string;
  /** Its top class. */
  top: Prediction;
  /** Ours, for the sentence. */
  ours: Prediction;
  text: string;
}

const pct = (p: number) => `${(p * 100).toFixed(p >= 0.995 || p < 0.01 ? 1 : 0)}%`;

/** The neighbouring pipelines whose top class differs from `ours` (the top class under the pipeline in use). */
export async function pipelineSensitivity(explainer: Explainer, image: DecodedImage, ours: Prediction): Promise<PipelineDisagreement[]> {
  const neighbours = neighbourPipelines(explainer.pipeline, explainer.imageSpec, image);
  if (!neighbours.length) return [];
  const inputs = neighbours.map((n) => runPipeline(image, n.spec, explainer.imageSpec).values);
  const shape = explainer.runtime.inputShape;
  const size = inputs[0].length;
  const logits = await batchRunner(explainer.runtime).forward(inputs.length, (start, end) => {
    const rows = new Float32Array((end - start) * size);
    for (let i = start; i < end; i++) rows.set(inputs[i], (i - start) * size);
    return tf.tensor(rows, [end - start, ...shape], 'float32');
  });
  const classes = explainer.runtime.numClasses;
  const out: PipelineDisagreement[] = [];
  neighbours.forEach((n, i) => {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    const probs = probabilities(row, explainer.runtime.outputActivation);
    if (classes === 1) {
      // One output: the decision is its sign (sigmoid 50%), and an argmax would always agree.
      if (row[0] >= 0 === ours.logit >= 0) return;
      const top: Prediction = { index: 0, label: explainer.labelOf(0), probability: probs[0], logit: row[0] };
      const score = (p: Prediction) => (explainer.runtime.outputActivation === 'sigmoid' ? pct(p.probability) : `logit ${p.logit.toPrecision(3)}`);
      out.push({ pipeline: n.label, top, ours, text: `Preprocessed ${n.label}, ${top.label} scores ${score(top)}, not ${score(ours)}: the other side of the decision.` });
      return;
    }
    let best = 0;
    for (let k = 1; k < classes; k++) if (row[k] > row[best]) best = k;
    if (best === ours.index) return;
    const top: Prediction = { index: best, label: explainer.labelOf(best), probability: probs[best], logit: row[best] };
    out.push({
      pipeline: n.label,
      top,
      ours,
      text: `Preprocessed ${n.label}, the top class is ${top.label} (${pct(top.probability)}), not ${ours.label} (${pct(ours.probability)}).`,
    });
  });
  return out;
}
