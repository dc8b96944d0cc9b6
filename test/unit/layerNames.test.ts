import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fullLayerName, layerLabel, moduleOutputs, scopeParts, shortLayerNames } from '../../src/shared/layerNames';

const HUB = 'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2';

describe('readable layer names', () => {
  it('drops TensorFlow call wrappers and keeps the last three scopes', () => {
    assert.deepEqual(scopeParts(`${HUB}/Conv_1/Relu6`), ['sequential', 'keras_layer', 'predict', 'MobilenetV2', 'Conv_1', 'Relu6']);
    assert.equal(layerLabel(`${HUB}/Conv_1/Relu6`, []), 'MobilenetV2/Conv_1/Relu6');
    assert.equal(layerLabel('StatefulPartitionedCall_1/model/conv/BiasAdd', []), 'model/conv/BiasAdd');
  });

  it('leaves short names (Keras layers, nested ones) as they are', () => {
    const names = ['conv1', 'backbone/conv2', 'a/b/c'];
    assert.deepEqual([...shortLayerNames(names).values()], names);
  });

  it('keeps more scopes where three would make two layers look alike', () => {
    const a = 'StatefulPartitionedCall/model/block_1/expand/BatchNorm/FusedBatchNormV3';
    const b = 'StatefulPartitionedCall/model/block_2/expand/BatchNorm/FusedBatchNormV3';
    const c = `${HUB}/Conv_1/Relu6`;
    const short = shortLayerNames([a, b, c]);
    assert.equal(short.get(a), 'block_1/expand/BatchNorm/FusedBatchNormV3');
    assert.equal(short.get(b), 'block_2/expand/BatchNorm/FusedBatchNormV3');
    assert.equal(short.get(c), 'MobilenetV2/Conv_1/Relu6');
    assert.equal(new Set(short.values()).size, 3);
  });

  it('a shown name leads back to its layer; full names always do; an ambiguous or unknown one does not', () => {
    const names = [`${HUB}/Conv_1/Relu6`, 'x/StatefulPartitionedCall/conv/Relu', 'x/conv/Relu'];
    assert.equal(fullLayerName(names, 'MobilenetV2/Conv_1/Relu6'), names[0]);
    assert.equal(fullLayerName(names, names[0]), names[0]);
    assert.equal(fullLayerName(names, 'x/conv/Relu'), 'x/conv/Relu');
    assert.equal(fullLayerName(names, 'Conv_1/Relu6'), undefined);
    assert.equal(fullLayerName(names, 'nope'), undefined);
  });
});

describe('ONNX layers from torch.onnx.export shown by their PyTorch module path', () => {
  // A torchvision BasicBlock as exported: the block's residual Add comes before its second ReLU.
  const RESNET = ['/conv1/Conv', '/relu/Relu', '/layer1/layer1.0/conv1/Conv', '/layer1/layer1.0/relu/Relu',
    '/layer1/layer1.0/conv2/Conv', '/layer1/layer1.0/Add', '/layer1/layer1.0/relu_1/Relu'];
  // The last ViT block's attention: several nodes in one module, the module's output last.
  const ATTENTION = ['/encoder/layers/encoder_layer_11/ln_1/LayerNormalization', '/encoder/layers/encoder_layer_11/self_attention/MatMul',
    '/encoder/layers/encoder_layer_11/self_attention/MatMul_1', '/encoder/layers/encoder_layer_11/self_attention/Transpose_5',
    '/encoder/layers/encoder_layer_11/Add'];

  it('a module\'s output by its path; other nodes by path and node', () => {
    assert.deepEqual([...shortLayerNames(RESNET).values()],
      ['conv1', 'relu', 'layer1.0.conv1', 'layer1.0.relu', 'layer1.0.conv2', 'layer1.0/Add', 'layer1.0.relu_1']);
    assert.deepEqual([...shortLayerNames(ATTENTION).values()], ['encoder.layers.encoder_layer_11.ln_1',
      'encoder.layers.encoder_layer_11.self_attention/MatMul', 'encoder.layers.encoder_layer_11.self_attention/MatMul_1',
      'encoder.layers.encoder_layer_11.self_attention', 'encoder.layers.encoder_layer_11']);
  });

  it('a path selects its module\'s output: the last spatial layer inside it or its children', () => {
    const outputs = moduleOutputs(RESNET);
    assert.equal(outputs.get('layer1'), '/layer1/layer1.0/relu_1/Relu');
    assert.equal(outputs.get('layer1.0'), '/layer1/layer1.0/relu_1/Relu');
    assert.equal(outputs.get('layer1.0.conv2'), '/layer1/layer1.0/conv2/Conv');
    assert.equal(outputs.get('layer1.0.Add'), undefined);
  });

  it('every shown name leads back to its layer', () => {
    for (const names of [RESNET, ATTENTION]) {
      for (const [full, shown] of shortLayerNames(names)) assert.equal(fullLayerName(names, shown), full, shown);
    }
  });

  it('among all layers, a module\'s path stays with its spatial output, not a later non-spatial node', () => {
    const all = [...RESNET, '/layer1/layer1.0/relu_1/Shape'];
    const short = shortLayerNames(all, RESNET);
    assert.equal(short.get('/layer1/layer1.0/relu_1/Relu'), 'layer1.0.relu_1');
    assert.equal(short.get('/layer1/layer1.0/relu_1/Shape'), 'layer1.0.relu_1/Shape');
    assert.equal(layerLabel('/layer1/layer1.0/Add', RESNET), 'layer1.0/Add');
    assert.equal(layerLabel('/layer1/layer1.0/relu_1/Relu', RESNET), 'layer1.0.relu_1');
  });

  it('names whose module paths would look alike keep their scopes', () => {
    const names = ['/layer4/layer4.1/conv2/Conv', '/layer4.1/conv2/Conv'];
    const short = shortLayerNames(names);
    assert.equal(new Set(short.values()).size, 2);
    for (const [full, shown] of short) assert.equal(fullLayerName(names, shown), full);
  });
});

describe('module paths never read like another layer', () => {
  it('a path equal to another layer\'s shown or full name keeps its scopes, and every form leads back', () => {
    for (const names of [['/a/Conv', '/a/Relu', 'a/Conv'], ['/layer4/Relu', 'layer4']]) {
      const short = shortLayerNames(names);
      assert.equal(new Set(short.values()).size, names.length, JSON.stringify([...short]));
      for (const [full, shown] of short) {
        assert.ok(!names.includes(shown) || shown === full, `${full} shows as another layer's name ${shown}`);
        assert.equal(fullLayerName(names, shown), full, shown);
      }
    }
  });
});
