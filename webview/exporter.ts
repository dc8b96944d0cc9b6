/**
 * Export PNG: the overlay exactly as shown (image, heatmap on top at the chosen opacity), composed on
 * an offscreen canvas at the image's natural size. Side by side exports the three panes in a row.
 */
import { overlayHeatmap } from '../src/shared/overlay';
import type { ColormapName } from '../src/shared/colormaps';
import type { DecodedMap } from './mapStore';
import { heatPixels } from './heatmap';
import { drawLegend, legendHeight, MIN_LEGEND_WIDTH, type LegendContent } from './legendStrip';

/** RGBA of the image at its natural size (the image is a data: URL, so the canvas is not tainted). */
export function imagePixels(img: HTMLImageElement): ImageData {
  const w = img.naturalWidth;
  const h = img.naturalHeight;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2D canvas context');
  ctx.drawImage(img, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

/**
 * `panels`: null = the bare image, a map = that map over the image. With a legend, the strip goes under the
 * panels (which keep their natural size, centred when the strip is wider than they are).
 */
export function renderExportPng(img: HTMLImageElement, panels: (DecodedMap | null)[], colormap: ColormapName, opacity: number,
  legend?: LegendContent): string {
  const w = img.naturalWidth;
  const h = img.naturalHeight;
  const base = imagePixels(img);
  const panelsWidth = w * panels.length;
  const width = legend ? Math.max(panelsWidth, MIN_LEGEND_WIDTH) : panelsWidth;
  const out = document.createElement('canvas');
  out.width = width;
  out.height = h + (legend ? legendHeight(width, legend) : 0);
  const ctx = out.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas context');
  if (legend) {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, out.width, out.height);
  }
  const left = Math.floor((width - panelsWidth) / 2);
  panels.forEach((map, i) => {
    let pixels: Uint8ClampedArray = base.data;
    if (map) {
      const heat = heatPixels(map, w, h, colormap);
      pixels = overlayHeatmap(base.data, heat, new Float32Array(0), opacity, w, h);
    }
    ctx.putImageData(new ImageData(new Uint8ClampedArray(pixels), w, h), left + i * w, 0);
  });
  if (legend) drawLegend(ctx, h, width, legend, colormap);
  return out.toDataURL('image/png');
}

/** Export file names are shared with the CLI and the folder listing that skips them. */
export { exportName } from '../src/shared/imageFiles';
