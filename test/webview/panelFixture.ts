/**
 * A small fake host for the explain panel's webview tests of layout, zoom and keys: a 12-class model, a
 * 64x48 picture, and maps at the image's size whose value at every pixel is known: a CAM's is 200 + y, any
 * other method's 100 + x (three digits, as the readout shows them), so a readout names its pixel.
 */
import { PNG } from 'pngjs';
import type { Page } from 'playwright-core';
import type { ExplanationMsg, HostToWebview, ModelInfoMsg, PredictionMsg, RawMapMsg, WebviewToHost } from '../../src/shared/protocol';
import { float32ToBase64 } from '../../src/shared/protocol';
import { methodSpec, type MethodName } from '../../src/shared/methods';
import { posted, send, type Posted } from './harness';

export const IMG_W = 64;
export const IMG_H = 48;
export const LABELS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'tabby cat', 'a golden retriever with a very long label'];

export const MODEL: ModelInfoMsg = {
  path: '/workspace/models/some-rather-long-folder-name/model.json',
  format: 'layers',
  numClasses: LABELS.length,
  labels: LABELS,
  outputActivation: 'softmax',
  inputShape: [1, 32, 32, 3],
  preprocessing: 'scale-0-1',
  spatialLayers: [{ name: 'conv2d_2', type: 'Conv2D', height: 8, width: 8, channels: 32 }],
  defaultSpatialLayer: 'conv2d_2',
  backend: { name: 'onnxruntime', threads: 2, note: 'test' },
  warnings: [],
  layers: [],
  totalParams: 0,
  outputName: 'predictions',
};

const LOGITS = [1.2, 0.3, 2.9, 0.1, 1.9, -0.5, 0.4, 4.1, 0.9, 2.2, -1.0, 0.0];

/** Every class, ranked by probability (softmax of LOGITS). */
export const RANKED: PredictionMsg[] = (() => {
  const m = Math.max(...LOGITS);
  const e = LOGITS.map((l) => Math.exp(l - m));
  const s = e.reduce((a, b) => a + b, 0);
  return LOGITS.map((logit, index) => ({ index, label: LABELS[index], logit, probability: e[index] / s })).sort((a, b) => b.probability - a.probability);
})();
export const TOP5 = RANKED.slice(0, 5);

/** The known map value at image pixel (x, y) (maps are at the image's size, so no resampling blurs it). */
export function mapValue(method: MethodName, x: number, y: number): number {
  return methodSpec(method).target === 'layer' ? 200 + y : 100 + x;
}

function knownMap(method: MethodName): RawMapMsg {
  const data = new Float32Array(IMG_W * IMG_H);
  for (let y = 0; y < IMG_H; y++) for (let x = 0; x < IMG_W; x++) data[y * IMG_W + x] = mapValue(method, x, y);
  const layer = methodSpec(method).target === 'layer' ? MODEL.defaultSpatialLayer : undefined;
  return { method, width: IMG_W, height: IMG_H, data: float32ToBase64(data), min: data[0], max: data[data.length - 1], signed: false, layer };
}

export function explanationFor(msg: Extract<WebviewToHost, { type: 'explain' }>): HostToWebview {
  const cls = msg.request.classIndex ?? RANKED[0].index;
  const result: ExplanationMsg = {
    imagePath: '/workspace/images/street.png',
    imageWidth: IMG_W,
    imageHeight: IMG_H,
    predictions: TOP5,
    target: RANKED.find((p) => p.index === cls)!,
    maps: (msg.request.methods ?? ['saliency']).map((m) => knownMap(m)),
    timings: { forward: 1 },
    notes: [],
  };
  return { type: 'explanation', requestId: msg.requestId, result };
}

/** A 64x48 picture (gradient with a disc) as a PNG data URL. */
export function imageDataUrl(): string {
  const png = new PNG({ width: IMG_W, height: IMG_H });
  for (let y = 0; y < IMG_H; y++) {
    for (let x = 0; x < IMG_W; x++) {
      const disc = (x - 20) ** 2 + (y - 18) ** 2 < 64;
      png.data.set(disc ? [240, 200, 60, 255] : [90 + y * 2, 140 + x, 210 - y, 255], 4 * (y * IMG_W + x));
    }
  }
  return `data:image/png;base64,${PNG.sync.write(png).toString('base64')}`;
}

export const IMAGE_NAME = 'a-photo-with-a-long-file-name-from-the-camera-2026-11-30.png';

export function initMsg(defaultView: string): HostToWebview {
  return {
    type: 'init', imageUri: imageDataUrl(), imageName: IMAGE_NAME, imagePath: '/workspace/images/street.png', model: MODEL,
    settings: { colormap: 'jet', opacity: 0.5, defaultView },
  } as HostToWebview;
}

/** Answers every `explain` not answered yet with `reply` (by default the fixture's explanation); returns how many. */
export async function answerExplains(page: Page, answered: Set<number>,
  reply: (m: Extract<WebviewToHost, { type: 'explain' }>) => HostToWebview = explanationFor): Promise<number> {
  let n = 0;
  for (const m of await posted<WebviewToHost>(page) as Posted<WebviewToHost>[]) {
    if (m.type !== 'explain' || answered.has(m.requestId)) continue;
    answered.add(m.requestId);
    await send(page, reply(m));
    n++;
  }
  return n;
}
