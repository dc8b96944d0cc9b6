/**
 * Compositing a coloured heatmap over an image.
 *
 * Pure TypeScript, no imports: used by the webview (browser) and the CLI (node).
 */

export interface OverlayOptions {
  /**
   * Scale the opacity by the normalized value at each pixel (a = opacity * value), so that low
   * values stay transparent and only the salient regions tint the image.
   */
  weightByValue?: boolean;
}

/**
 * Outside the model's input (a heat pixel with alpha 0: `colorize` with `nanTransparent`) the image is dimmed to
 * this share of its brightness, with no heat: the same darkening the panel draws there (media/panel.css
 * `.map-region`, black at 1 − OUTSIDE_BRIGHTNESS).
 */
export const OUTSIDE_BRIGHTNESS = 0.5;

function clamp01(v: number): number {
  return v > 0 ? (v < 1 ? v : 1) : 0; // NaN -> 0
}

/**
 * Alpha-blends `heatRgba` (e.g. from `colorize`) over `imageRgba`, both RGBA of `width` x `height`:
 * out = image * (1 - a) + heat * a per RGB channel, with a = opacity, or a = opacity * value when
 * `weightByValue` (value from `normalized`, clamped to [0, 1]). Opacity is clamped to [0, 1].
 * The image's alpha is ignored; a heat pixel with alpha 0 lies outside the map (outside the model's input): no
 * heat there, the image dimmed to OUTSIDE_BRIGHTNESS. Other heat alphas are ignored; the output alpha is 255.
 * Results are rounded to the nearest integer (Uint8ClampedArray semantics).
 */
export function overlayHeatmap(
  imageRgba: Uint8Array | Uint8ClampedArray,
  heatRgba: Uint8ClampedArray,
  normalized: Float32Array,
  opacity: number,
  width: number,
  height: number,
  opts?: OverlayOptions,
): Uint8ClampedArray {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`width and height must be positive integers, got ${width}x${height}`);
  }
  const n = width * height;
  if (imageRgba.length !== n * 4) {
    throw new RangeError(`image has ${imageRgba.length} bytes, expected ${width}x${height}x4 = ${n * 4}`);
  }
  if (heatRgba.length !== n * 4) {
    throw new RangeError(`heatmap has ${heatRgba.length} bytes, expected ${width}x${height}x4 = ${n * 4}`);
  }
  const weight = opts?.weightByValue === true;
  if (weight && normalized.length !== n) {
    throw new RangeError(`normalized map has ${normalized.length} values, expected ${width}x${height} = ${n}`);
  }
  const op = clamp01(opacity);
  const out = new Uint8ClampedArray(n * 4);
  for (let p = 0, o = 0; p < n; p++, o += 4) {
    if (heatRgba[o + 3] === 0) {
      out[o] = imageRgba[o] * OUTSIDE_BRIGHTNESS;
      out[o + 1] = imageRgba[o + 1] * OUTSIDE_BRIGHTNESS;
      out[o + 2] = imageRgba[o + 2] * OUTSIDE_BRIGHTNESS;
      out[o + 3] = 255;
      continue;
    }
    const a = weight ? op * clamp01(normalized[p]) : op;
    const b = 1 - a;
    out[o] = imageRgba[o] * b + heatRgba[o] * a;
    out[o + 1] = imageRgba[o + 1] * b + heatRgba[o + 1] * a;
    out[o + 2] = imageRgba[o + 2] * b + heatRgba[o + 2] * a;
    out[o + 3] = 255;
  }
  return out;
}
