/**
 * The fake subject the methods view's webview tests (Maps and Trust tabs) share: a 4-class ONNX model with one
 * 6×6 CAM layer, a 48×48 picture, the subject the host sends for it, and the predictions it answers with.
 */
import { PNG } from 'pngjs';
import type { CompareSubject, ModelInfoMsg, PredictionMsg } from '../../src/shared/protocol';

export const LABELS = ['cat', 'dog', 'fox', 'owl'];
/** The model's input side, and its CAM layer's. */
export const SIZE = 24;
export const CAM = 6;

export const MODEL: ModelInfoMsg = {
  path: '/w/animals/model.onnx', format: 'onnx', numClasses: LABELS.length, labels: LABELS, outputActivation: 'softmax',
  inputShape: [SIZE, SIZE, 3], preprocessing: 'unit (0..1) (default)',
  spatialLayers: [{ name: 'conv_last', type: 'Conv', height: CAM, width: CAM, channels: 8 }], defaultSpatialLayer: 'conv_last',
  backend: { name: 'onnxruntime', threads: 2, note: 'test' }, warnings: [], layers: [], totalParams: 0, outputName: 'logits', version: 'v1',
};

function picture(): string {
  const png = new PNG({ width: 48, height: 48 });
  for (let i = 0; i < 48 * 48; i++) png.data.set([(i * 7) % 255, (i * 3) % 255, 120, 255], i * 4);
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

export const SUBJECT: CompareSubject = {
  imageUri: picture(), imageName: 'photo.png', imagePath: '/w/photo.png', model: MODEL, classIndex: 0, layer: 'conv_last', imageVersion: '1:1',
};

export const prediction = (index: number): PredictionMsg => ({ index, label: LABELS[index], logit: 3 - index, probability: 0.6 / (index + 1) });
