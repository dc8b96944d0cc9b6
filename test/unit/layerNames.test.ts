import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fullLayerName, scopeParts, shortLayerName, shortLayerNames } from '../../src/shared/layerNames';

const HUB = 'StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/StatefulPartitionedCall/StatefulPartitionedCall/predict/MobilenetV2';

describe('readable layer names', () => {
  it('drops TensorFlow call wrappers and keeps the last three scopes', () => {
    assert.deepEqual(scopeParts(`${HUB}/Conv_1/Relu6`), ['sequential', 'keras_layer', 'predict', 'MobilenetV2', 'Conv_1', 'Relu6']);
    assert.equal(shortLayerName(`${HUB}/Conv_1/Relu6`), 'MobilenetV2/Conv_1/Relu6');
    assert.equal(shortLayerName('StatefulPartitionedCall_1/model/conv/BiasAdd'), 'model/conv/BiasAdd');
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
