import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ImageExplanation } from '../explain';
import { renderOverlay, RenderOptions } from '../io/writeExplanation';
import type { ReportEntry } from '../../shared/htmlReport';

const MIME: Record<string, string> = { png: 'image/png', jpeg: 'image/jpeg', bmp: 'image/bmp', gif: 'image/gif', webp: 'image/webp' };

/** One image of a batch report: the file itself, its overlays as drawn, predictions and timings. */
export function reportEntryFor(result: ImageExplanation, render: RenderOptions): ReportEntry {
  return {
    name: path.basename(result.image.file),
    image: { mime: MIME[result.image.format] ?? 'application/octet-stream', base64: fs.readFileSync(result.image.file).toString('base64') },
    overlays: result.maps.map((m) => ({ method: m.method, layer: m.layer, png: renderOverlay(result, m, render).toString('base64') })),
    predictions: result.predictions,
    target: result.target,
    timings: result.timings,
    notes: result.notes,
  };
}
