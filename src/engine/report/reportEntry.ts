import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageExplanation } from '../explain';
import { BROWSER_MIME } from '../image/browserMime';
import type { ImageFormat } from '../image/decode';
import { overlayRgba, placementFor, RenderOptions } from '../io/writeExplanation';
import type { ReportEntry } from '../../shared/htmlReport';
import { embedPicture, EmbeddedPicture, thumbnailPixels } from './thumbnail';

/**
 * The file's own bytes, when it is shown at its own size, a browser draws its format, and it states no EXIF
 * orientation (a browser would turn it whether or not the engine did: the pixels the maps were made on serve).
 */
function originalFile(result: ImageExplanation): (EmbeddedPicture & { bytes: number }) | undefined {
  const mime = BROWSER_MIME[result.image.format as ImageFormat];
  if (!mime || result.pixels.orientation) return undefined;
  try {
    const bytes = fs.readFileSync(result.image.file);
    return { mime, base64: bytes.toString('base64'), bytes: bytes.length };
  } catch {
    return undefined; // gone since it was decoded: the re-encoded pixels serve
  }
}

/**
 * One image of a batch report: the image and its overlays as drawn, as thumbnails sized for viewing (the
 * smaller of PNG and JPEG each), with predictions and timings. When the model's input covers only part of the
 * image (its `inputRegion`), the overlays lie only inside it, as writeExplanation draws them, and the entry says so.
 */
export function reportEntryFor(result: ImageExplanation, render: RenderOptions): ReportEntry {
  const thumb = thumbnailPixels(result.pixels);
  const sameSize = thumb === result.pixels;
  const placement = placementFor(result);
  return {
    name: path.basename(result.image.file),
    image: embedPicture(thumb, sameSize ? originalFile(result) : undefined),
    overlays: result.maps.map((m) => ({ method: m.method, layer: m.layer, picture: embedPicture({ width: thumb.width, height: thumb.height, data: overlayRgba(thumb, m, render, placement) }) })),
    covers: placement?.region.text,
    predictions: result.predictions,
    target: result.target,
    timings: result.timings,
    notes: result.notes,
  };
}
