/**
 * Export PNG: the overlay exactly as shown (image, heatmap on top at the chosen opacity; where the model's input
 * covers only part of the image, no heat outside it, the image dimmed there and the region outlined), composed on
 * an offscreen canvas at the image's natural size. Side by side exports the three panes in a row.
 */
import { overlayHeatmap } from '../src/shared/overlay';
import { regionOnDisplay } from '../src/shared/placement';
import type { ColormapName } from '../src/shared/colormaps';
import type { DecodedMap, MapPlacement } from './mapStore';
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
    if (map?.placement) outlineRegion(ctx, map.placement, left + i * w, w, h);
  });
  if (legend) drawLegend(ctx, h, width, legend, colormap);
  return out.toDataURL('image/png');
}

/** The outline the panel draws (1 px, the theme's focus border colour), on the ring of pixels just outside the region. */
function outlineRegion(ctx: CanvasRenderingContext2D, placement: MapPlacement, left: number, w: number, h: number): void {
  const { region, imageWidth, imageHeight } = placement;
  const box = regionOnDisplay(region, imageWidth, imageHeight, w, h);
  const x0 = Math.round(box.left);
  const y0 = Math.round(box.top);
  const x1 = Math.round(box.left + box.width);
  const y1 = Math.round(box.top + box.height);
  ctx.save();
  // Only over this panel: a letterbox's outline lies outside the image and is not drawn.
  ctx.beginPath();
  ctx.rect(left, 0, w, h);
  ctx.clip();
  ctx.strokeStyle = getComputedStyle(document.body).getPropertyValue('--vscode-focusBorder').trim() || FOCUS_FALLBACK;
  ctx.lineWidth = 1;
  ctx.strokeRect(left + x0 - 0.5, y0 - 0.5, x1 - x0 + 1, y1 - y0 + 1);
  ctx.restore();
}

/** VS Code's default focus border, for a theme that does not set one. */
const FOCUS_FALLBACK = '#0078d4';

/** Export file names are shared with the CLI and the folder listing that skips them. */
export { exportName } from '../src/shared/imageFiles';
