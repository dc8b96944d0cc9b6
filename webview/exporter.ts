/**
 * Export PNG: the overlay exactly as shown (image, heatmap on top at the chosen opacity), composed on
 * an offscreen canvas at the image's natural size. Side by side exports the three panes in a row.
 */
import { overlayHeatmap } from '../src/shared/overlay';
import type { ColormapName } from '../src/shared/colormaps';
import type { DecodedMap } from './mapStore';
import { heatPixels } from './heatmap';

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

/** `panels`: null = the bare image, a map = that map over the image. */
export function renderExportPng(img: HTMLImageElement, panels: (DecodedMap | null)[], colormap: ColormapName, opacity: number): string {
  const w = img.naturalWidth;
  const h = img.naturalHeight;
  const base = imagePixels(img);
  const out = document.createElement('canvas');
  out.width = w * panels.length;
  out.height = h;
  const ctx = out.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas context');
  panels.forEach((map, i) => {
    let pixels: Uint8ClampedArray = base.data;
    if (map) {
      const heat = heatPixels(map, w, h, colormap);
      pixels = overlayHeatmap(base.data, heat, new Float32Array(0), opacity, w, h);
    }
    ctx.putImageData(new ImageData(new Uint8ClampedArray(pixels), w, h), i * w, 0);
  });
  return out.toDataURL('image/png');
}

/**
 * A file name safe on every OS, named as the CLI names its outputs (`<image>.<method>.npy`, methods by
 * registry name): "photo.saliency.npy", "photo.gradcam++.281-tabby_cat.png".
 */
export function exportName(imageName: string, parts: string[], ext: string): string {
  const stem = imageName.replace(/\.[^./\\]+$/, '');
  const clean = [stem, ...parts].map((p) => p.replace(/[^\w.+-]+/g, '_').replace(/^_+|_+$/g, '')).filter(Boolean);
  return `${clean.join('.')}.${ext}`;
}
