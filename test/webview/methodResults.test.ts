/**
 * The methods view's result cache and keys (webview/methodResults.ts), in plain node: what a key must
 * tell apart, and that the cache drops the least recently used results once past its budget.
 *
 * Run: node --import tsx --test test/webview/methodResults.test.ts
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CompareSubject, ModelInfoMsg, RawMapMsg } from '../../src/shared/protocol';
import { float32ToBase64 } from '../../src/shared/protocol';
import { methodResult, ResultCache, resultKey } from '../../webview/methodResults';

const MODEL: ModelInfoMsg = {
  path: '/w/m/model.onnx', format: 'onnx', numClasses: 3, labels: ['a', 'b', 'c'], outputActivation: 'softmax', inputShape: [4, 4, 3],
  preprocessing: 'unit', spatialLayers: [{ name: 'conv', type: 'Conv', height: 2, width: 2, channels: 4 }], defaultSpatialLayer: 'conv',
  backend: { name: 'onnxruntime', threads: 1, note: '' }, warnings: [], layers: [], totalParams: 0, outputName: 'y', version: 'v1',
};
const SUBJECT: CompareSubject = { imageUri: 'data:,', imageName: 'i.png', imagePath: '/w/i.png', model: MODEL, classIndex: 1, imageVersion: '10:1' };

/** A result of `n` float values (8·n bytes in the cache: raw and normalized). */
function result(n: number) {
  const raw: RawMapMsg = { method: 'saliency', width: n, height: 1, data: float32ToBase64(new Float32Array(n).fill(1)), min: 1, max: 1 };
  const msg = { imagePath: '/w/i.png', imageWidth: 4, imageHeight: 4, predictions: [], target: { index: 1, label: 'b', logit: 0, probability: 1 },
    maps: [raw], timings: { total: 1 }, notes: [] };
  return methodResult(msg, 'saliency', { signed: false });
}

test('a key changes with everything the map depends on, and only with that', () => {
  const key = resultKey(SUBJECT, 'gradcam');
  const differs = (s: CompareSubject, why: string) => assert.notEqual(resultKey(s, 'gradcam'), key, why);
  differs({ ...SUBJECT, classIndex: 2 }, 'class');
  differs({ ...SUBJECT, classIndex: undefined }, 'the top class before it is known');
  differs({ ...SUBJECT, model: { ...MODEL, version: 'v2' } }, 'model version');
  differs({ ...SUBJECT, model: { ...MODEL, preprocessing: 'imagenet' } }, 'preprocessing');
  differs({ ...SUBJECT, imageVersion: '10:2' }, 'image version');
  differs({ ...SUBJECT, layer: 'other' }, 'layer');
  assert.equal(resultKey({ ...SUBJECT, layer: 'conv' }, 'gradcam'), key, 'the automatic layer is the default one');
  assert.equal(resultKey({ ...SUBJECT, layer: 'other' }, 'saliency'), resultKey(SUBJECT, 'saliency'), 'an input method ignores the layer');
  assert.notEqual(resultKey({ ...SUBJECT, signed: true }, 'saliency'), resultKey(SUBJECT, 'saliency'), 'signed saliency');
  assert.notEqual(resultKey({ ...SUBJECT, options: { ig: { steps: 64 } } }, 'ig'), resultKey(SUBJECT, 'ig'), 'the panel\'s options');
  assert.equal(resultKey({ ...SUBJECT, options: { ig: { steps: 32 } } }, 'ig'), resultKey(SUBJECT, 'ig'), 'the default given explicitly');
});

test('the cache keeps results within its budget, dropping the least recently used', () => {
  const cache = new ResultCache(3 * 8 * 100); // three results of 100 values
  for (const k of ['a', 'b', 'c']) cache.set(k, result(100));
  assert.equal(cache.size, 3);
  assert.ok(cache.get('a'), 'a is used again: b is now the oldest');
  cache.set('d', result(100));
  assert.deepEqual(['a', 'b', 'c', 'd'].map((k) => cache.has(k)), [true, false, true, true]);
  cache.set('e', result(150)); // needs the room of two
  assert.deepEqual(['a', 'c', 'd', 'e'].map((k) => cache.has(k)), [false, false, true, true]);
  cache.set('huge', result(1000)); // larger than the budget: kept alone rather than not at all
  assert.deepEqual(['d', 'e', 'huge'].map((k) => cache.has(k)), [false, false, true]);
  assert.equal(cache.size, 1);
});
