import type { onnx } from 'onnx-proto';
import type { Emitter } from './emitter';
import { NotBatchable } from './gradRules';
import { einsumTerms, EinsumTerms } from './gradRulesEinsum';
import type { GNode } from './graph';
import type { OnnxModel } from './onnxModel';
import { attrFloats, attrInt, attrInts, attrString, findAttr } from './proto';

/**
 * Whether a model computed for one input [1, …] computes the same function row by row when fed a batch
 * [n, …], and the forward nodes to rewrite so it does. Every tensor that depends on the input's values
 * must keep the batch on axis 0 (1 in the probe's shapes) and no op may mix rows: convolutions, pooling
 * and elementwise ops are per row; ops along axis 0 (a Concat, Slice, Softmax, reduction or Transpose
 * there), a Reshape to a constant shape whose first entry is not the batch, a Concat with a constant
 * that is not batched (a ViT class token Expanded from batch 1) are not. A Reshape to a constant
 * [1, …] becomes [0, …] (0 = copy the input's axis 0, the batch).
 *
 * This is the structural half of the decision; the runtime also compares a batched run with single runs
 * once per session before trusting it (onnxRuntime.ts), since shape arithmetic (Shape → Gather → …) is
 * computed by ONNX Runtime at run time and is not followed here.
 */
export function batchRewrites(m: OnnxModel, e: Emitter, nodes: GNode[]): Map<GNode, onnx.INodeProto> {
  const { graph, facts } = m;
  const batched = new Set<string>([m.input.name]);
  // Tensors computed from a batched tensor's shape: ONNX Runtime recomputes them for any batch size.
  const shapeDerived = new Set<string>();
  const rewritten = new Map<GNode, onnx.INodeProto>();
  const rankOf = (t: string) => facts.shapes.get(t)?.length ?? -1;
  const known = (t: string | undefined) => (t ? facts.values.get(t) ?? graph.constantValues(t) : undefined);
  const isConstant = (t: string) => !batched.has(t) && !shapeDerived.has(t);
  for (const node of nodes) {
    const inputs = node.inputs.map((i) => !!i && batched.has(i));
    if (!inputs.some(Boolean)) {
      if (node.inputs.some((i) => i && shapeDerived.has(i))) node.outputs.forEach((o) => o && shapeDerived.add(o));
      continue;
    }
    if (node.op === 'Shape' || node.op === 'Size') {
      node.outputs.forEach((o) => o && shapeDerived.add(o));
      continue;
    }
    const refuse = (why: string): never => {
      throw new NotBatchable(`${node.op} node "${node.name}" ${why}`);
    };
    const onlyFirst = () => {
      if (inputs.slice(1).some(Boolean)) refuse('takes a batched tensor as a parameter');
    };
    const outRank = rankOf(node.outputs[0]);
    const axisOf = (fallback: number, rank = rankOf(node.inputs[0])) => {
      const a = attrInt(node.proto, 'axis', fallback);
      return a < 0 ? a + rank : a;
    };
    /** Axes given as an attribute (before `since`) or as input 1, normalized; undefined when unknown. */
    const axesOf = (since: number, rank: number): number[] | undefined => {
      const given = graph.opset >= since ? (node.inputs[1] ? known(node.inputs[1]) : []) : attrInts(node.proto, 'axes') ?? [];
      return given?.map((a) => (a < 0 ? a + rank : a));
    };
    switch (node.op) {
      case 'Conv': case 'ConvTranspose': case 'MaxPool': case 'AveragePool': case 'LpPool': case 'GlobalAveragePool':
      case 'GlobalMaxPool': case 'GlobalLpPool': case 'InstanceNormalization': case 'GroupNormalization': case 'LRN':
      case 'DepthToSpace': case 'SpaceToDepth': case 'Identity': case 'Dropout': case 'Cast':
        onlyFirst();
        break;
      case 'BatchNormalization':
        onlyFirst();
        // Training mode normalizes with the batch's own statistics (opset 14's training_mode, opset 6's is_test = 0).
        if (attrInt(node.proto, 'training_mode', 0) || (findAttr(node.proto, 'is_test') && !attrInt(node.proto, 'is_test', 0))) {
          refuse('normalizes with batch statistics (training mode)');
        }
        break;
      case 'Relu': case 'LeakyRelu': case 'PRelu': case 'Sigmoid': case 'HardSigmoid': case 'HardSwish': case 'Clip': case 'Tanh':
      case 'Exp': case 'Neg': case 'Elu': case 'Selu': case 'Celu': case 'Softplus': case 'Softsign': case 'Erf': case 'Sqrt':
      case 'Reciprocal': case 'Abs': case 'Log': case 'Mish': case 'Gelu': case 'Sign': case 'Floor': case 'Ceil': case 'Round':
      case 'Sin': case 'Cos': case 'ThresholdedRelu': case 'Add': case 'Sub': case 'Mul': case 'Div': case 'Pow': case 'Max':
      case 'Min': case 'Sum': case 'Mean': case 'Where': case 'Equal': case 'Greater': case 'Less': case 'GreaterOrEqual':
      case 'LessOrEqual': case 'And': case 'Or': case 'Xor': case 'Not': case 'Mod':
        // Broadcasting keeps axis 0 the batch only when every batched operand has the output's rank.
        if (node.inputs.some((t, i) => inputs[i] && rankOf(t) !== outRank)) refuse('broadcasts a batched tensor to a higher rank');
        break;
      case 'Softmax': case 'LogSoftmax': case 'Hardmax':
        onlyFirst();
        if (axisOf(graph.opset >= 13 ? -1 : 1) === 0) refuse('runs along the batch axis');
        break;
      case 'Flatten':
        onlyFirst();
        if (axisOf(1) === 0) refuse('flattens the batch axis');
        break;
      case 'LayerNormalization':
        onlyFirst();
        if (axisOf(-1) === 0) refuse('normalizes over the batch axis');
        break;
      case 'ArgMax': case 'ArgMin':
        onlyFirst();
        if (axisOf(0) === 0) refuse('runs along the batch axis');
        break;
      case 'Transpose': {
        const perm = attrInts(node.proto, 'perm');
        if (!perm || perm[0] !== 0) refuse('moves the batch axis');
        break;
      }
      case 'Reshape': {
        onlyFirst();
        const target = node.inputs[1];
        if (shapeDerived.has(target)) break;
        const shape = known(target);
        if (!shape) refuse('has a shape computed from the input');
        const [first, ...rest] = shape!;
        if (first === 0 || (first === -1 && !rest.includes(-1))) break;
        if (first !== 1) refuse(`reshapes to ${JSON.stringify(shape)}, whose first axis is not the batch`);
        if (attrInt(node.proto, 'allowzero', 0)) refuse('reshapes with allowzero');
        rewritten.set(node, { ...node.proto, input: [node.inputs[0], e.i64([0, ...rest])] });
        break;
      }
      case 'Squeeze': case 'Unsqueeze': {
        onlyFirst();
        const rank = node.op === 'Squeeze' ? rankOf(node.inputs[0]) : outRank;
        const axes = axesOf(13, rank);
        if (!axes || !axes.length) refuse('has no explicit axes');
        if (axes!.includes(0)) refuse('changes the batch axis');
        break;
      }
      case 'Concat':
        if (axisOf(0, outRank) === 0) refuse('concatenates along the batch axis');
        if (inputs.some((b) => !b)) refuse('joins a batched tensor with one that is not (e.g. a constant token of batch 1)');
        break;
      case 'Split':
        onlyFirst();
        if (axisOf(0) === 0) refuse('splits the batch axis');
        break;
      case 'Slice': {
        onlyFirst();
        const rank = rankOf(node.inputs[0]);
        // Without axes, starts name the first axes in order (their count is fixed even when their values are computed).
        const starts = graph.opset >= 10 ? known(node.inputs[1]) : attrInts(node.proto, 'starts');
        const given = graph.opset >= 10 ? (node.inputs[3] ? known(node.inputs[3]) : undefined) : attrInts(node.proto, 'axes');
        const axes = given ?? (graph.opset >= 10 && node.inputs[3] ? undefined : starts?.map((_, i) => i));
        if (!axes) refuse('slices axes that are not known');
        if (axes!.map((a) => (a < 0 ? a + rank : a)).includes(0)) refuse('slices the batch axis');
        break;
      }
      case 'Pad': {
        onlyFirst();
        const rank = rankOf(node.inputs[0]);
        const pads = graph.opset >= 11 ? known(node.inputs[1]) : attrInts(node.proto, 'pads');
        const axes = graph.opset >= 18 && node.inputs[3] ? known(node.inputs[3])?.map((a) => (a < 0 ? a + rank : a)) : Array.from({ length: rank }, (_, i) => i);
        if (!pads || !axes) refuse('has pads that are not known');
        const k = axes!.indexOf(0);
        if (k >= 0 && (pads![k] || pads![k + axes!.length])) refuse('pads the batch axis');
        break;
      }
      case 'ReduceMean': case 'ReduceSum': case 'ReduceMax': case 'ReduceMin': case 'ReduceProd': case 'ReduceL1': case 'ReduceL2':
      case 'ReduceLogSum': case 'ReduceLogSumExp': case 'ReduceSumSquare': {
        onlyFirst();
        const axes = axesOf(node.op === 'ReduceSum' ? 13 : 18, rankOf(node.inputs[0]));
        if (!axes || !axes.length || axes.includes(0)) refuse('reduces over the batch axis');
        break;
      }
      case 'Gemm':
        onlyFirst();
        if (attrInt(node.proto, 'transA', 0)) refuse('transposes its batched input');
        break;
      case 'MatMul': {
        // The batch must stay axis 0 of the product, not become a matrix row or column: a batched left
        // operand of rank ≥ 2 or right one of rank ≥ 3, the other of no higher rank (with equal ranks it
        // broadcasts over the batch: the probe's 1 on the output's axis 0, checked below, says so).
        const [a, b] = node.inputs.map(rankOf);
        const ok = (inputs[0] && inputs[1] && a >= 3 && a === b)
          || (inputs[0] && !inputs[1] && a >= 2 && b >= 1 && b <= a)
          || (!inputs[0] && inputs[1] && b >= 3 && a >= 1 && a <= b);
        if (!ok) refuse('multiplies along the batch axis');
        break;
      }
      case 'Gather':
        onlyFirst();
        if (axisOf(0) === 0) refuse('gathers along the batch axis');
        break;
      case 'Expand': {
        onlyFirst();
        if (!isConstant(node.inputs[1])) break;
        if (known(node.inputs[1])?.length === undefined || known(node.inputs[1])!.length > rankOf(node.inputs[0])) refuse('expands the batch to a higher rank');
        break;
      }
      case 'Tile': {
        onlyFirst();
        const repeats = known(node.inputs[1]);
        if (!repeats || repeats[0] !== 1) refuse('tiles along the batch axis');
        break;
      }
      case 'Resize': case 'Upsample': {
        onlyFirst();
        const sizes = node.op === 'Resize' ? node.inputs[3] : undefined;
        if (sizes && (known(sizes)?.length ?? 1) > 0) refuse('resizes to given sizes');
        const scales = node.op === 'Upsample' && graph.opset < 9 ? attrFloats(node.proto, 'scales')
          : known(node.op === 'Resize' ? node.inputs[graph.opset >= 11 ? 2 : 1] : node.inputs[1]);
        // Opset 18's axes name the axes the scales are for; the others keep scale 1.
        const axes = node.op === 'Resize' ? attrInts(node.proto, 'axes')?.map((a) => (a < 0 ? a + rankOf(node.inputs[0]) : a)) : undefined;
        const batchAt = axes ? axes.indexOf(0) : 0;
        if (!scales || (batchAt >= 0 && scales[batchAt] !== 1)) refuse('scales the batch axis');
        break;
      }
      case 'Einsum': {
        // The batch stays axis 0 when it is the first label of the output and of every batched operand, and
        // no operand without the batch (a weight shared by all rows) has that label.
        let terms: EinsumTerms | undefined;
        try {
          terms = einsumTerms(attrString(node.proto, 'equation', ''), node.inputs.map((t) => facts.shapes.get(t) ?? []));
        } catch {
          refuse('has an equation whose labels cannot be followed');
        }
        const label = terms!.output[0];
        if (label === undefined || terms!.inputs.some((t, k) => (inputs[k] ? t[0] !== label : t.includes(label)))) {
          refuse('moves or contracts the batch axis');
        }
        break;
      }
      default:
        refuse('is not known to keep batch rows apart');
    }
    for (const o of node.outputs) {
      if (!o) continue;
      const s = facts.shapes.get(o);
      if (!s || s.length === 0 || s[0] !== 1) refuse(`gives ${JSON.stringify(s)} for one input, without the batch on axis 0`);
      batched.add(o);
    }
  }
  if (!batched.has(m.output.logits)) throw new NotBatchable('the logits do not follow the batch');
  return rewritten;
}
