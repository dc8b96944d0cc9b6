/**
 * How the engine reads image files for every request: turned upright by the EXIF orientation they state (the
 * default, as browsers draw them), or as stored when the extension's saliencyLens.exifOrientation is off. The
 * explanation's size, the map's orientation and the panel's picture must agree either way.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { imageSize } from 'image-size';
import { ExplainService } from '../../src/engine/service';

const image = path.resolve('test/fixtures/images/orient-6.jpg');

async function sizes(exifOrientation: boolean | undefined): Promise<{ explained: number[]; shown: number[] }> {
  const service = new ExplainService(undefined, undefined, exifOrientation === undefined ? {} : { exifOrientation });
  try {
    const e = await service.explain({ modelPath: 'examples/mnist-cnn', imagePath: image, methods: ['saliency'] });
    const d = await service.displayImage({ imagePath: image });
    const shown = imageSize(Buffer.from(d.dataUrl.slice(d.dataUrl.indexOf(',') + 1), 'base64'));
    // A picture that still states an orientation would be turned by the browser a second time.
    assert.equal(shown.orientation ?? 1, 1, 'the picture the panel draws states no turn of its own');
    return { explained: [e.imageWidth, e.imageHeight], shown: [d.width, d.height, shown.width, shown.height] };
  } finally {
    service.dispose();
  }
}

describe('the engine reads images upright unless told to read them as stored', () => {
  it('a JPEG stored 32×48 with EXIF orientation 6: 48×32 by default, 32×48 as stored, the picture as explained', async () => {
    assert.equal(imageSize(fs.readFileSync(image)).width, 32, 'the fixture is stored on its side');
    assert.deepEqual(await sizes(undefined), { explained: [48, 32], shown: [48, 32, 48, 32] });
    assert.deepEqual(await sizes(true), { explained: [48, 32], shown: [48, 32, 48, 32] });
    assert.deepEqual(await sizes(false), { explained: [32, 48], shown: [32, 48, 32, 48] });
  });
});
