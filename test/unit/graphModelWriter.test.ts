import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/engine/backend';
import { layersToGraphArtifacts, saveAsGraphModel, type NodeDefJson } from '../fixtures/graphModelWriter';

const TOL = 1e-5;

/** IOHandler that reads a model folder from disk the way tf.loadGraphModel('file://…') would. */
function dirHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as tf.io.ModelJSON;
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs = manifest.flatMap((group) => group.weights);
        const data = Buffer.concat(manifest.flatMap((group) => group.paths.map((p) => fs.readFileSync(path.join(dir, p)))));
        return [specs, data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)];
      });
    },
  };
}

async function saveAndLoad(model: tf.LayersModel, fused: boolean): Promise<{ graph: tf.GraphModel; dir: string; nodes: NodeDefJson[]; layerNodes: Record<string, string> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'graph-writer-'));
  const conversion = await saveAsGraphModel(model, dir, { fused });
  const graph = await tf.loadGraphModel(dirHandler(dir));
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')) as { modelTopology: { node: NodeDefJson[] } };
  return { graph, dir, nodes: json.modelTopology.node, layerNodes: conversion.layerNodes };
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

function randomInput(model: tf.LayersModel, batch: number, seed: number): tf.Tensor {
  const shape = [batch, ...(model.inputs[0].shape.slice(1) as number[])];
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

/** Predictions match, and each listed graph node matches the layers sub-model's output at that layer. */
async function checkEquivalent(model: tf.LayersModel, fused: boolean, probes: { node: string; layer: tf.SymbolicTensor }[]): Promise<NodeDefJson[]> {
  const { graph, dir, nodes } = await saveAndLoad(model, fused);
  try {
    const x = randomInput(model, 2, 42);
    const expected = model.predict(x) as tf.Tensor;
    const actual = graph.predict(x) as tf.Tensor;
    assert.ok(maxAbsDiff(expected, actual) < TOL, `predictions differ (fused=${fused})`);
    // Executing the default output by node name gives the same thing.
    const lastNode = nodes[nodes.length - 1].name;
    const byName = graph.execute(x, lastNode) as tf.Tensor;
    assert.ok(maxAbsDiff(expected, byName) < TOL);
    for (const probe of probes) {
      const sub = tf.model({ inputs: model.inputs, outputs: probe.layer });
      const want = sub.predict(x) as tf.Tensor;
      const got = graph.execute(x, probe.node) as tf.Tensor;
      assert.ok(maxAbsDiff(want, got) < TOL, `intermediate ${probe.node} differs (fused=${fused})`);
      tf.dispose([want, got]);
    }
    tf.dispose([x, expected, actual, byName]);
    return nodes;
  } finally {
    graph.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function nodeByName(nodes: NodeDefJson[], name: string): NodeDefJson {
  const node = nodes.find((n) => n.name === name);
  assert.ok(node, `node ${name} missing; have ${nodes.map((n) => n.name).join(', ')}`);
  return node;
}

const decode = (s: string): string => Buffer.from(s, 'base64').toString('utf8');

/** Randomizes BatchNormalization statistics so the test exercises them (defaults are the identity). */
function randomizeBatchNorm(model: tf.LayersModel, seed: number): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    const ws = layer.getWeights();
    layer.setWeights(
      ws.map((w, i) => {
        const name = layer.weights[i].originalName;
        return name.endsWith('moving_variance') ? tf.randomUniform(w.shape, 0.5, 2, 'float32', seed + i) : tf.randomUniform(w.shape, -0.5, 0.5, 'float32', seed + i);
      }),
    );
  }
}

function convNet(): tf.LayersModel {
  return tf.sequential({
    name: 'convnet',
    layers: [
      tf.layers.conv2d({ inputShape: [16, 16, 3], filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1' }),
      tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }),
      tf.layers.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', activation: 'relu6', name: 'conv2' }),
      tf.layers.averagePooling2d({ poolSize: 2, strides: 1, padding: 'same', name: 'pool2' }),
      tf.layers.flatten({ name: 'flatten' }),
      tf.layers.dropout({ rate: 0.5, name: 'dropout' }),
      tf.layers.dense({ units: 12, activation: 'relu', name: 'fc1' }),
      tf.layers.dense({ units: 5, activation: 'softmax', name: 'predictions' }),
    ],
  });
}

function residualNet(): tf.LayersModel {
  const input = tf.input({ shape: [12, 12, 4], name: 'image' });
  const a = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', name: 'conv_a' }).apply(input) as tf.SymbolicTensor;
  const bnA = tf.layers.batchNormalization({ name: 'bn_a' }).apply(a) as tf.SymbolicTensor;
  const act1 = tf.layers.reLU({ name: 'act1' }).apply(bnA) as tf.SymbolicTensor;
  const b = tf.layers.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'conv_b' }).apply(act1) as tf.SymbolicTensor;
  const bnB = tf.layers.batchNormalization({ name: 'bn_b' }).apply(b) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'add' }).apply([act1, bnB]) as tf.SymbolicTensor;
  const act2 = tf.layers.activation({ activation: 'relu', name: 'act2' }).apply(sum) as tf.SymbolicTensor;
  const side = tf.layers.conv2d({ filters: 4, kernelSize: 1, activation: 'relu', name: 'side' }).apply(act2) as tf.SymbolicTensor;
  const cat = tf.layers.concatenate({ name: 'concat' }).apply([act2, side]) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(cat) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 4, activation: 'softmax', name: 'predictions' }).apply(gap) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out, name: 'resnet' });
  randomizeBatchNorm(model, 7);
  return model;
}

function depthwiseNet(): tf.LayersModel {
  const input = tf.input({ shape: [10, 10, 3], name: 'pixels' });
  let x = tf.layers.zeroPadding2d({ padding: [[1, 2], [2, 1]], name: 'pad' }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, strides: 2, activation: 'relu', name: 'dw1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 8, kernelSize: 1, activation: 'relu6', name: 'pw1' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, name: 'dw2' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.leakyReLU({ alpha: 0.1, name: 'leaky' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 3, name: 'logits' }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.softmax({ name: 'probs' }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: x, name: 'mobile' });
}

function nestedNet(): { model: tf.LayersModel; backbone: tf.LayersModel } {
  const inner = tf.input({ shape: [8, 8, 3], name: 'backbone_input' });
  const c1 = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv1' }).apply(inner) as tf.SymbolicTensor;
  const c2 = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'conv2' }).apply(c1) as tf.SymbolicTensor;
  const backbone = tf.model({ inputs: inner, outputs: c2, name: 'backbone' });
  const input = tf.input({ shape: [8, 8, 3], name: 'image' });
  const features = backbone.apply(input) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(features) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 3, activation: 'softmax', name: 'predictions' }).apply(gap) as tf.SymbolicTensor;
  return { model: tf.model({ inputs: input, outputs: out, name: 'classifier' }), backbone };
}

describe('graphModelWriter', () => {
  before(async () => {
    await initBackend();
  });

  it('writes the tfjs_graph_model layout', () => {
    const model = convNet();
    const artifacts = layersToGraphArtifacts(model, { fused: false });
    assert.equal(artifacts.format, 'graph-model');
    const topology = artifacts.modelTopology as { node: NodeDefJson[]; library: object; versions: { producer: number } };
    assert.deepEqual(topology.library, {});
    assert.equal(typeof topology.versions.producer, 'number');
    const names = topology.node.map((n) => n.name);
    for (const name of ['convnet/conv1/Conv2D', 'convnet/conv1/BiasAdd', 'convnet/conv1/Relu', 'convnet/conv2/Relu6', 'convnet/pool1/MaxPool', 'convnet/pool2/AvgPool', 'convnet/flatten/Reshape', 'convnet/fc1/MatMul', 'convnet/predictions/Softmax']) {
      assert.ok(names.includes(name), `missing ${name}`);
    }
    assert.equal(names[names.length - 1], 'convnet/predictions/Softmax');
    assert.ok(!names.some((n) => n.includes('dropout')));
    const placeholder = topology.node[0];
    assert.equal(placeholder.op, 'Placeholder');
    assert.deepEqual(placeholder.attr?.shape.shape?.dim?.map((d) => d.size), ['-1', '16', '16', '3']);
    const conv = nodeByName(topology.node, 'convnet/conv1/Conv2D');
    assert.deepEqual(conv.input, [placeholder.name, 'convnet/conv1/Conv2D/ReadVariableOp']);
    assert.equal(decode(conv.attr!.padding.s!), 'SAME');
    assert.deepEqual(nodeByName(topology.node, 'convnet/conv2/Conv2D').attr!.strides.list!.i, ['1', '2', '2', '1']);
    // Every weight spec is a Const node of the same name.
    const consts = new Set(topology.node.filter((n) => n.op === 'Const').map((n) => n.name));
    assert.deepEqual(new Set(artifacts.weightSpecs!.map((w) => w.name)), consts);
    const signature = artifacts.signature as { inputs: Record<string, { name: string }>; outputs: Record<string, { name: string }> };
    assert.equal(Object.values(signature.inputs)[0].name, `${placeholder.name}:0`);
    assert.deepEqual(signature.outputs, { predictions: { name: 'convnet/predictions/Softmax:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size: '5' }] } } });
  });

  it('fuses like the converter, naming the fused node after the last op', () => {
    const nodes = (layersToGraphArtifacts(convNet(), { fused: true }).modelTopology as { node: NodeDefJson[] }).node;
    const conv1 = nodeByName(nodes, 'convnet/conv1/Relu');
    assert.equal(conv1.op, '_FusedConv2D');
    assert.deepEqual(conv1.attr!.fused_ops.list!.s!.map(decode), ['BiasAdd', 'Relu']);
    assert.equal(conv1.attr!.num_args.i, '1');
    assert.equal(nodeByName(nodes, 'convnet/conv2/Relu6').op, '_FusedConv2D');
    assert.equal(nodeByName(nodes, 'convnet/fc1/Relu').op, '_FusedMatMul');
    const logits = nodeByName(nodes, 'convnet/predictions/BiasAdd');
    assert.equal(logits.op, '_FusedMatMul');
    assert.deepEqual(logits.attr!.fused_ops.list!.s!.map(decode), ['BiasAdd']);
    assert.ok(!nodes.some((n) => n.name === 'convnet/conv1/Conv2D'));
  });

  for (const fused of [false, true]) {
    it(`conv net matches the LayersModel (fused=${fused})`, async () => {
      const model = convNet();
      await checkEquivalent(model, fused, [
        { node: 'convnet/conv1/Relu', layer: model.getLayer('conv1').output as tf.SymbolicTensor },
        { node: 'convnet/pool1/MaxPool', layer: model.getLayer('pool1').output as tf.SymbolicTensor },
        { node: 'convnet/conv2/Relu6', layer: model.getLayer('conv2').output as tf.SymbolicTensor },
        { node: 'convnet/fc1/Relu', layer: model.getLayer('fc1').output as tf.SymbolicTensor },
      ]);
    });

    it(`residual net with BatchNormalization, Add, Concatenate matches (fused=${fused})`, async () => {
      const model = residualNet();
      const bnNode = fused ? 'resnet/bn_b/batchnorm/add_1' : 'resnet/bn_b/FusedBatchNormV3';
      const nodes = await checkEquivalent(model, fused, [
        { node: 'resnet/act1/Relu', layer: model.getLayer('act1').output as tf.SymbolicTensor },
        { node: bnNode, layer: model.getLayer('bn_b').output as tf.SymbolicTensor },
        { node: 'resnet/add/add', layer: model.getLayer('add').output as tf.SymbolicTensor },
        { node: 'resnet/act2/Relu', layer: model.getLayer('act2').output as tf.SymbolicTensor },
        { node: 'resnet/concat/concat', layer: model.getLayer('concat').output as tf.SymbolicTensor },
        { node: 'resnet/gap/Mean', layer: model.getLayer('gap').output as tf.SymbolicTensor },
      ]);
      assert.equal(nodeByName(nodes, 'resnet/gap/Mean').op, 'Mean');
      assert.equal(nodeByName(nodes, 'resnet/concat/concat').op, 'ConcatV2');
      assert.equal(nodes[nodes.length - 1].name, 'resnet/predictions/Softmax');
    });

    it(`depthwise net with ZeroPadding2D matches (fused=${fused})`, async () => {
      const model = depthwiseNet();
      const nodes = await checkEquivalent(model, fused, [
        { node: 'mobile/pad/Pad', layer: model.getLayer('pad').output as tf.SymbolicTensor },
        { node: 'mobile/dw1/Relu', layer: model.getLayer('dw1').output as tf.SymbolicTensor },
        { node: 'mobile/pw1/Relu6', layer: model.getLayer('pw1').output as tf.SymbolicTensor },
        { node: 'mobile/dw2/depthwise', layer: model.getLayer('dw2').output as tf.SymbolicTensor },
        { node: 'mobile/leaky/LeakyRelu', layer: model.getLayer('leaky').output as tf.SymbolicTensor },
      ]);
      assert.equal(nodeByName(nodes, 'mobile/dw1/Relu').op, fused ? 'FusedDepthwiseConv2dNative' : 'Relu');
      assert.equal(nodes[nodes.length - 1].name, 'mobile/probs/Softmax');
    });

    it(`nested model is inlined with prefixed names (fused=${fused})`, async () => {
      const { model, backbone } = nestedNet();
      const { layerNodes } = await saveAndLoad(model, fused).then(async (r) => {
        r.graph.dispose();
        fs.rmSync(r.dir, { recursive: true, force: true });
        return r;
      });
      assert.equal(layerNodes['backbone/conv1'], 'classifier/backbone/conv1/Relu');
      assert.equal(layerNodes['backbone/conv2'], 'classifier/backbone/conv2/Relu');
      assert.equal(layerNodes['backbone'], 'classifier/backbone/conv2/Relu');
      assert.equal(layerNodes['predictions'], 'classifier/predictions/Softmax');
      // The inner layers' outputs, computed from the backbone's own input.
      const x = randomInput(model, 3, 11);
      const { graph, dir } = await saveAndLoad(model, fused);
      try {
        const conv1 = tf.model({ inputs: backbone.inputs, outputs: backbone.getLayer('conv1').output });
        for (const [node, expected] of [
          ['classifier/backbone/conv1/Relu', conv1.predict(x) as tf.Tensor],
          ['classifier/backbone/conv2/Relu', backbone.predict(x) as tf.Tensor],
          ['classifier/predictions/Softmax', model.predict(x) as tf.Tensor],
        ] as const) {
          const got = graph.execute(x, node) as tf.Tensor;
          assert.ok(maxAbsDiff(expected, got) < TOL, `${node} differs`);
          tf.dispose([expected, got]);
        }
        const [a, b] = graph.execute(x, ['classifier/backbone/conv1/Relu', 'classifier/gap/Mean']) as tf.Tensor[];
        assert.deepEqual(a.shape, [3, 8, 8, 4]);
        assert.deepEqual(b.shape, [3, 6]);
        tf.dispose([a, b, x]);
      } finally {
        graph.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it(`sequential whose first layer is a model keeps the nested scope (fused=${fused})`, async () => {
      const base = tf.sequential({
        name: 'base',
        layers: [
          tf.layers.conv2d({ inputShape: [9, 9, 3], filters: 5, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'stem' }),
          tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', activation: 'relu6', name: 'dw' }),
        ],
      });
      const model = tf.sequential({
        name: 'transfer',
        layers: [base, tf.layers.globalAveragePooling2d({ name: 'gap' }), tf.layers.dense({ units: 2, activation: 'softmax', name: 'head' })],
      });
      const nodes = await checkEquivalent(model, fused, [
        { node: 'transfer/base/stem/Relu', layer: base.getLayer('stem').output as tf.SymbolicTensor },
        { node: 'transfer/base/dw/Relu6', layer: base.getLayer('dw').output as tf.SymbolicTensor },
      ]);
      assert.equal(nodes[nodes.length - 1].name, 'transfer/head/Softmax');
    });
  }
});
