/** The panel's zoom arithmetic (webview/zoom.ts), without a browser. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clampView, imagePoint, isFit, zoomAbout } from '../../webview/zoom';
import { seededUniform } from '../../src/engine/methods/random';

test('zooming in and back out by the same wheel steps, anywhere, is the fitted view again', () => {
  const random = seededUniform(7);
  for (let trial = 0; trial < 500; trial++) {
    const steps = 1 + Math.floor(random() * 6);
    const factor = Math.exp((0.2 + random()) * Math.log(1.25));
    let view = clampView({ scale: 1, cx: 0.5, cy: 0.5 });
    for (let i = 0; i < steps; i++) view = zoomAbout(view, factor, random(), random());
    assert.ok(!isFit(view), 'zoomed in');
    for (let i = 0; i < steps; i++) view = zoomAbout(view, 1 / factor, random(), random());
    assert.ok(isFit(view), `trial ${trial}: scale ${view.scale} after ${steps} steps in and out`);
    assert.deepEqual([view.cx, view.cy], [0.5, 0.5], 'the whole image, centred');
  }
});

test('zooming keeps the image point under the cursor where it was', () => {
  const view = zoomAbout(clampView({ scale: 1, cx: 0.5, cy: 0.5 }), 2, 0.3, 0.6);
  const under = imagePoint(view, 0.3, 0.6);
  assert.ok(Math.abs(under.u - 0.3) < 1e-12 && Math.abs(under.v - 0.6) < 1e-12, JSON.stringify(under));
});
