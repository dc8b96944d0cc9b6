import type { OnnxModel } from './onnxModel';
import { attrInt, attrInts } from './proto';

/**
 * Where a transformer's tokens sit in the image. ViT-style models cut the image into patches with one
 * convolution whose kernel equals its stride; each output position becomes a token, row by row, after k
 * special tokens (class, distillation, registers). Knowing that convolution's output grid at the actual
 * input size, a [1, T, C] tensor with T = k + h·w reads as an h×w map of C channels once the k special
 * tokens are dropped — the reshape transform pytorch-grad-cam asks its users to write by hand.
 */

/** The patch embedding: the first convolution on the image, kernel = stride > 1 on both axes. */
export interface PatchEmbedding {
  node: string;
  patch: [number, number];
  /** Its output grid at the model's input size. */
  height: number;
  width: number;
}

/** How a [1, T, C] token tensor maps onto the image: T = skip + height·width, patch tokens row by row. */
export interface TokenGrid {
  skip: number;
  height: number;
  width: number;
  channels: number;
  tokens: number;
}

/** Special tokens at most in front of the patch tokens (class, distillation, up to a dozen registers). */
const MAX_SPECIAL = 16;

export function findPatchEmbedding(m: OnnxModel): PatchEmbedding | undefined {
  const g = m.graph;
  const fromInput = g.descendants([m.input.name], undefined, false);
  const conv = g.nodes.find((n) => n.op === 'Conv' && fromInput.has(n.inputs[0]));
  if (!conv) return undefined;
  const kernel = attrInts(conv.proto, 'kernel_shape') ?? m.facts.shapes.get(conv.inputs[1])?.slice(2);
  const strides = attrInts(conv.proto, 'strides') ?? [1, 1];
  const dilations = attrInts(conv.proto, 'dilations') ?? [1, 1];
  const out = m.facts.shapes.get(conv.outputs[0]);
  if (kernel?.length !== 2 || out?.length !== 4 || dilations.some((d) => d !== 1)) return undefined;
  if (!kernel.every((k, i) => k > 1 && k === strides[i])) return undefined;
  return { node: conv.name, patch: [kernel[0], kernel[1]], height: out[2], width: out[3] };
}

/**
 * The grid of a [1, T, C] tensor: the patch grid after up to MAX_SPECIAL special tokens (fewer than half
 * the patches, so a [1, C, h·w] tensor is not taken for tokens), or, without special tokens, the grid
 * merged 2, 4, 8… fold as hierarchical transformers do. Token × token tensors (attention) are no grid.
 */
export function tokenGridOf(shape: readonly number[] | undefined, embed: PatchEmbedding): TokenGrid | undefined {
  if (shape?.length !== 3 || shape[0] !== 1) return undefined;
  const [, tokens, channels] = shape;
  if (channels === tokens) return undefined;
  const patches = embed.height * embed.width;
  const skip = tokens - patches;
  if (skip >= 0 && skip <= Math.min(MAX_SPECIAL, Math.floor(patches / 2))) {
    return { skip, height: embed.height, width: embed.width, channels, tokens };
  }
  for (let f = 2; f <= Math.max(embed.height, embed.width); f *= 2) {
    const [height, width] = [Math.ceil(embed.height / f), Math.ceil(embed.width / f)];
    if (height > 1 && width > 1 && height * width === tokens) return { skip: 0, height, width, channels, tokens };
  }
  return undefined;
}

/** Whether an h×w grid can be the image (H×W) seen at some integer stride, give or take a border pixel. */
function fitsImage(h: number, w: number, [height, width]: [number, number]): boolean {
  for (let f = 1; f <= Math.max(height, width); f++) {
    if (Math.abs(h - height / f) < 1 && Math.abs(w - width / f) < 1) return true;
  }
  return false;
}

/**
 * Layouts of 4-D tensors whose producers left them unknown (LayerNormalization and MatMul over the
 * channels of a permuted [1, h, w, C] tensor, as in Swin and ConvNeXt blocks): channels-last when only
 * axes 1–2 fit the image at some stride, channels-first when only axes 2–3 do, else left unknown.
 * `unreadable`: those where neither fits (Swin's torch.roll and patch-merging slices cover part of the
 * grid): which axes are the image's cannot be told, so they are no layer to explain.
 */
export function layoutsFromGeometry(m: OnnxModel): { layouts: Map<string, 'NCHW' | 'NHWC'>; unreadable: Set<string> } {
  const found = new Map<string, 'NCHW' | 'NHWC'>();
  const unreadable = new Set<string>();
  const { dims, layout } = m.input;
  if (layout === 'asis' || dims.length !== 4) return { layouts: found, unreadable };
  const image: [number, number] = layout === 'NCHW' ? [dims[2], dims[3]] : [dims[1], dims[2]];
  for (const [t, s] of m.facts.shapes) {
    if (s.length !== 4 || s[0] !== 1 || m.layouts.has(t) || !m.facts.types.get(t)?.startsWith('float')) continue;
    const last = fitsImage(s[1], s[2], image);
    const first = fitsImage(s[2], s[3], image);
    if (last !== first) found.set(t, last ? 'NHWC' : 'NCHW');
    else if (!last) unreadable.add(t);
  }
  return { layouts: found, unreadable };
}

/** Token grids of every float [1, T, C] tensor computed from the patch embedding. */
export function tokenGrids(m: OnnxModel, embed: PatchEmbedding | undefined): Map<string, TokenGrid> {
  const grids = new Map<string, TokenGrid>();
  if (!embed) return grids;
  const conv = m.graph.byName.get(embed.node)!;
  const fromEmbed = m.graph.descendants([conv.outputs[0]], m.facts.types, true);
  for (const t of fromEmbed) {
    const grid = tokenGridOf(m.facts.shapes.get(t), embed);
    if (grid) grids.set(t, grid);
  }
  return grids;
}

/** Ops that act on each position alone, whatever the shape (element by element). */
const ELEMENTWISE = new Set(['Relu', 'Gelu', 'Erf', 'Sigmoid', 'Tanh', 'Identity', 'Dropout', 'Cast', 'Sqrt', 'Neg', 'Abs', 'Exp',
  'Log', 'Softplus', 'Mish', 'Elu', 'Selu', 'Celu', 'HardSwish', 'HardSigmoid', 'LeakyRelu', 'Clip', 'Reciprocal', 'Softsign',
  'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Where', 'PRelu']);

/**
 * Token tensors whose patch tokens get no gradient whatever the input: the logits read them only through
 * their special tokens (a classifier on the class token, `x[:, 0]`), through ops that treat each token on
 * its own (LayerNorm, Linear, GELU, residual sums). A CAM there is blank. Walks from the logits back,
 * marking each tensor 'every token' or 'special tokens only'; any op not known to keep tokens apart
 * (attention, reshapes) counts as reaching every token, so only certain cases are marked.
 */
export function blindTokenLayers(m: OnnxModel, grids: ReadonlyMap<string, TokenGrid>): Set<string> {
  const g = m.graph;
  const { shapes, types, values } = m.facts;
  const varying = g.descendants([m.input.name], undefined, false);
  const constant = (t: string) => values.get(t) ?? g.constantValues(t);
  // 1: only the special tokens carry a gradient; 2: every position may.
  const reach = new Map<string, number>([[m.output.logits, 2]]);
  const sameShape = (a: string, b: string) => JSON.stringify(shapes.get(a)) === JSON.stringify(shapes.get(b));
  const inputReach = (n: (typeof g.nodes)[number], j: number, out: number): number => {
    const x = n.inputs[j];
    const grid = grids.get(x);
    if (n.op === 'Gather' && j === 0 && grid) {
      const axis = attrInt(n.proto, 'axis', 0);
      const indices = constant(n.inputs[1]);
      if ((axis === 1 || axis === -2) && indices?.every((i) => (i < 0 ? i + grid.tokens : i) < grid.skip)) return 1;
      return 2;
    }
    if (n.op === 'Slice' && j === 0 && grid) {
      const [starts, ends, axes, steps] = [1, 2, 3, 4].map((k) => (n.inputs[k] ? constant(n.inputs[k]) : undefined));
      if (!starts || !ends) return 2;
      const at = (axes ?? starts.map((_, i) => i)).findIndex((a) => a === 1 || a === -2);
      if (at < 0) return out;
      const end = ends[at] < 0 ? ends[at] + grid.tokens : ends[at];
      return (steps?.[at] ?? 1) > 0 && end <= grid.skip ? 1 : 2;
    }
    if (ELEMENTWISE.has(n.op)) return sameShape(x, n.outputs[0]) ? out : 2;
    if (n.op === 'LayerNormalization' && j === 0) {
      const rank = shapes.get(x)?.length ?? 0;
      const axis = attrInt(n.proto, 'axis', -1);
      return axis === -1 || axis === rank - 1 ? out : 2;
    }
    // x @ W with a fixed 2-D W (a Linear layer): each token on its own.
    if (n.op === 'MatMul' && j === 0) {
      const w = n.inputs[1];
      return shapes.get(w)?.length === 2 && !varying.has(w) ? out : 2;
    }
    if (n.op === 'Gemm' && j === 0) return attrInt(n.proto, 'transA', 0) === 0 ? out : 2;
    return 2;
  };
  for (let i = g.nodes.length - 1; i >= 0; i--) {
    const n = g.nodes[i];
    const out = Math.max(0, ...n.outputs.map((o) => reach.get(o) ?? 0));
    if (!out) continue;
    n.inputs.forEach((x, j) => {
      if (!x || g.initializers.has(x) || !types.get(x)?.startsWith('float')) return;
      reach.set(x, Math.max(reach.get(x) ?? 0, inputReach(n, j, out)));
    });
  }
  return new Set([...grids.keys()].filter((t) => reach.get(t) === 1 && grids.get(t)!.skip > 0));
}
