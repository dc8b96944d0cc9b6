import type * as tf from '@tensorflow/tfjs';
import type { OnnxModel } from './onnxModel';
import { attrInt } from './proto';
import type { PatchEmbedding, TokenGrid } from './tokenGrid';

/**
 * Where a vision transformer keeps its attention probabilities: in each block, the Softmax over the keys
 * of the scaled query·key scores, [..., T, T] with T every token (special tokens and patches), whose
 * output multiplies the values. Exports fold batch and heads differently (torchvision's
 * nn.MultiheadAttention: [heads, T, T]; timm and HuggingFace: [1, heads, T, T]); at batch 1 the axes in
 * front of the last two are the heads either way. Attention rollout reads them (methods/attentionRollout.ts).
 */
export interface AttentionLayout {
  /** The Softmax outputs, one per block, input side first. */
  tensors: string[];
  /** Heads of each block. */
  heads: number[];
  /** Tokens T: special ones first, then the patches row by row. */
  tokens: number;
  /** Special tokens in front of the patches (0 for models that pool the patch tokens). */
  skip: number;
  /** The patch grid. */
  height: number;
  width: number;
}

/** Every block's attention probabilities for one input, each [heads, T, T] row-major. */
export interface AttentionMatrices extends AttentionLayout {
  blocks: Float32Array[];
}

/** Every block's attention probabilities and the target's gradient with respect to them, each [heads, T, T]. */
export interface AttentionGradients extends AttentionMatrices {
  gradients: Float32Array[];
}

/** A runtime that can hand out a transformer's attention probabilities (the ONNX runtime). */
export interface AttentionSource {
  /** The model's attention, or undefined when it has no attention over its patch tokens. */
  attentionLayout(): AttentionLayout | undefined;
  attentionMatrices(x: tf.Tensor): Promise<AttentionMatrices>;
  /** The attention and seed·∂logits/∂attention, seed over the logits. */
  attentionGradients(x: tf.Tensor, seed: Float32Array): Promise<AttentionGradients>;
}

export function isAttentionSource(runtime: object): runtime is AttentionSource {
  const r = runtime as Partial<AttentionSource>;
  return typeof r.attentionLayout === 'function' && typeof r.attentionMatrices === 'function' && typeof r.attentionGradients === 'function';
}

/**
 * The attention Softmax nodes of a ViT-style model: over the last axis, a [..., T, T] output with T the
 * token count of a token layer at the patch grid's full resolution, computed from the input, read by the
 * logits and multiplied with the values (MatMul/Einsum). Windowed attention (Swin: T = window size) is no
 * attention over the whole grid and is not found. All blocks must share one T: the first found decides.
 */
export function findAttention(m: OnnxModel, embed: PatchEmbedding | undefined, grids: ReadonlyMap<string, TokenGrid>): AttentionLayout | undefined {
  if (!embed) return undefined;
  const skips = new Map<number, number>();
  for (const grid of grids.values()) {
    if (grid.height === embed.height && grid.width === embed.width) skips.set(grid.tokens, grid.skip);
  }
  const g = m.graph;
  const fromInput = g.descendants([m.input.name], undefined, false);
  const toLogits = g.ancestors([m.output.logits]);
  const found: { tensor: string; heads: number; tokens: number }[] = [];
  for (const n of g.nodes) {
    if (n.op !== 'Softmax') continue;
    const t = n.outputs[0];
    const shape = m.facts.shapes.get(t);
    if (!shape || shape.length < 2 || !fromInput.has(t) || !toLogits.has(t)) continue;
    const rank = shape.length;
    const axis = attrInt(n.proto, 'axis', g.opset >= 13 ? -1 : 1);
    const tokens = shape[rank - 1];
    if ((axis < 0 ? axis + rank : axis) !== rank - 1 || shape[rank - 2] !== tokens || !skips.has(tokens)) continue;
    if (!(g.consumers.get(t) ?? []).some((c) => (c.op === 'MatMul' && c.inputs[0] === t) || c.op === 'Einsum')) continue;
    found.push({ tensor: t, heads: shape.slice(0, rank - 2).reduce((a, b) => a * b, 1), tokens });
  }
  if (!found.length) return undefined;
  const tokens = found[0].tokens;
  const blocks = found.filter((f) => f.tokens === tokens);
  return {
    tensors: blocks.map((b) => b.tensor),
    heads: blocks.map((b) => b.heads),
    tokens,
    skip: skips.get(tokens)!,
    height: embed.height,
    width: embed.width,
  };
}

/**
 * One block's probabilities as [heads, T, T] from the values a session handed out: 4-D tensors leave
 * sessions channels-last ([1, T, T, heads], sessionModel.ts handOut) when read as NCHW, so those are put back.
 */
export function headsFirst(values: Float32Array, heads: number, tokens: number, transposed: boolean): Float32Array {
  if (!transposed) return Float32Array.from(values);
  const out = new Float32Array(values.length);
  const plane = tokens * tokens;
  for (let p = 0; p < plane; p++) {
    for (let h = 0; h < heads; h++) out[h * plane + p] = values[p * heads + h];
  }
  return out;
}
