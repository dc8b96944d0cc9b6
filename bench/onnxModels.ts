/**
 * torchvision-shaped ResNet-18 and MobileNetV2 as ONNX graphs with seeded random weights, spelled the
 * way `torch.onnx.export` writes them in eval mode (batch norm folded into conv biases, ReLU6 as Clip,
 * GlobalAveragePool → Flatten → Gemm). The bench uses these when PyTorch is not installed to export
 * the real torchvision modules (scripts/onnx/export_bench_models.py).
 */
import * as fs from 'node:fs';
import { onnx } from 'onnx-proto';
import { A, DataType, floatTensor, valueInfo } from '../src/engine/runtimes/onnx/proto';
import { gaussian, mulberry32 } from '../test/fixtures/seededRandom';

class GraphBuilder {
  readonly nodes: onnx.INodeProto[] = [];
  readonly initializers: onnx.ITensorProto[] = [];
  private count = 0;
  private readonly rand: () => number;

  constructor(seed: number) {
    this.rand = mulberry32(seed);
  }

  private name(hint: string): string {
    return `${hint}_${this.count++}`;
  }

  private weights(dims: number[], std: number): string {
    const n = dims.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = gaussian(this.rand) * std;
    const name = this.name('w');
    this.initializers.push(floatTensor(name, dims, values));
    return name;
  }

  op(opType: string, inputs: string[], attribute: onnx.IAttributeProto[] = [], scope = opType): string {
    const out = `/${scope}_output_${this.count++}`;
    this.nodes.push({ opType, name: `/${scope}`, input: inputs, output: [out], attribute });
    return out;
  }

  /** Conv with a folded batch norm: He-initialized kernel, small bias. */
  conv(x: string, cin: number, cout: number, k: number, stride: number, scope: string, groups = 1): string {
    const w = this.weights([cout, cin / groups, k, k], Math.sqrt(2 / ((cin / groups) * k * k)));
    const b = this.weights([cout], 0.01);
    const p = (k - 1) >> 1;
    return this.op('Conv', [x, w, b], [A.ints('kernel_shape', [k, k]), A.ints('strides', [stride, stride]), A.ints('pads', [p, p, p, p]),
      A.ints('dilations', [1, 1]), A.i('group', groups)], `${scope}/Conv`);
  }

  relu(x: string, scope: string): string {
    return this.op('Relu', [x], [], `${scope}/Relu`);
  }

  relu6(x: string, scope: string): string {
    const lo = this.name('min');
    const hi = this.name('max');
    this.initializers.push(floatTensor(lo, [], [0]), floatTensor(hi, [], [6]));
    return this.op('Clip', [x, lo, hi], [], `${scope}/Clip`);
  }

  head(x: string, channels: number, classes: number): string {
    const pooled = this.op('GlobalAveragePool', [x], [], 'avgpool/GlobalAveragePool');
    const flat = this.op('Flatten', [pooled], [A.i('axis', 1)], 'Flatten');
    const w = this.weights([classes, channels], 1 / Math.sqrt(channels));
    const b = this.weights([classes], 0.01);
    const logits = this.op('Gemm', [flat, w, b], [A.f('alpha', 1), A.f('beta', 1), A.i('transB', 1)], 'fc/Gemm');
    this.nodes.at(-1)!.output = ['logits'];
    return logits;
  }

  model(name: string, size: number, classes: number): Uint8Array {
    const graph: onnx.IGraphProto = {
      name,
      node: this.nodes,
      initializer: this.initializers,
      input: [valueInfo('input', DataType.FLOAT, [1, 3, size, size])],
      output: [valueInfo('logits', DataType.FLOAT, [1, classes])],
    };
    const model: onnx.IModelProto = { irVersion: 8, producerName: 'saliency-lens bench', opsetImport: [{ domain: '', version: 17 }], graph };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}

/** ResNet-18 (torchvision layout): stem 7×7/2 + max-pool, four stages of two basic blocks, 1000 classes. */
export function resnet18Onnx(size = 224, classes = 1000, seed = 1): Uint8Array {
  const g = new GraphBuilder(seed);
  let x = g.relu(g.conv('input', 3, 64, 7, 2, 'conv1'), 'relu');
  x = g.op('MaxPool', [x], [A.ints('kernel_shape', [3, 3]), A.ints('strides', [2, 2]), A.ints('pads', [1, 1, 1, 1])], 'maxpool/MaxPool');
  let cin = 64;
  for (const [stage, cout] of [[1, 64], [2, 128], [3, 256], [4, 512]]) {
    for (const block of [0, 1]) {
      const scope = `layer${stage}/layer${stage}.${block}`;
      const stride = block === 0 && stage > 1 ? 2 : 1;
      const h = g.relu(g.conv(x, cin, cout, 3, stride, `${scope}/conv1`), `${scope}/relu`);
      const y = g.conv(h, cout, cout, 3, 1, `${scope}/conv2`);
      const shortcut = stride !== 1 || cin !== cout ? g.conv(x, cin, cout, 1, stride, `${scope}/downsample/downsample.0`) : x;
      x = g.relu(g.op('Add', [y, shortcut], [], `${scope}/Add`), `${scope}/relu_1`);
      cin = cout;
    }
  }
  g.head(x, 512, classes);
  return g.model('resnet18', size, classes);
}

/** MobileNetV2 (torchvision layout): inverted residuals with depthwise 3×3 and ReLU6, 1280-channel head. */
export function mobilenetV2Onnx(size = 224, classes = 1000, seed = 2): Uint8Array {
  const g = new GraphBuilder(seed);
  let x = g.relu6(g.conv('input', 3, 32, 3, 2, 'features/features.0/features.0.0'), 'features/features.0/features.0.2');
  let cin = 32;
  let index = 1;
  // t (expansion), c (channels), n (repeats), s (stride of the first)
  for (const [t, c, n, s] of [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]]) {
    for (let i = 0; i < n; i++) {
      const scope = `features/features.${index++}/conv`;
      const stride = i === 0 ? s : 1;
      const hidden = cin * t;
      let h = x;
      if (t !== 1) h = g.relu6(g.conv(h, cin, hidden, 1, 1, `${scope}/conv.0/conv.0.0`), `${scope}/conv.0/conv.0.2`);
      h = g.relu6(g.conv(h, hidden, hidden, 3, stride, `${scope}/conv.1/conv.1.0`, hidden), `${scope}/conv.1/conv.1.2`);
      h = g.conv(h, hidden, c, 1, 1, `${scope}/conv.2`);
      x = stride === 1 && cin === c ? g.op('Add', [x, h], [], `${scope}/Add`) : h;
      cin = c;
    }
  }
  x = g.relu6(g.conv(x, cin, 1280, 1, 1, `features/features.18/features.18.0`), 'features/features.18/features.18.2');
  g.head(x, 1280, classes);
  return g.model('mobilenet_v2', size, classes);
}

export function writeBenchModels(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(`${dir}/resnet18.onnx`, resnet18Onnx());
  fs.writeFileSync(`${dir}/mobilenetv2.onnx`, mobilenetV2Onnx());
}
