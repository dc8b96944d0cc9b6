/**
 * EXIF orientation: where a file states it (a JPEG's APP1 "Exif" segment, a PNG's eXIf chunk, a WebP's EXIF
 * chunk, a TIFF's own first directory), and turning decoded pixels upright by it, as browsers do when they draw
 * such a file. The engine applies it by default so that the model, the maps and the panel all see the photo the
 * way its owner does; `false` for the option reads the pixels as stored (what PIL and TensorFlow's decoders do).
 *
 * The transform is ours, on the decoded RGBA (and 16-bit samples when present), so every decoder path (pngjs,
 * jpeg-js, sharp at full size or shrunk on load) turns the same way.
 */
import type { DecodedImage, ImageFormat } from './decode';
import { jpegSegments } from './jpegSegments';
import { readIfd0, TIFF_TAG } from './tiffIfd';

/** EXIF orientation values: 1 upright, 2 mirrored, 3 upside down, 4 flipped, 5–8 the transposed ones. */
export type Orientation = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

const EXIF_PREFIX = [0x45, 0x78, 0x69, 0x66, 0, 0]; // "Exif\0\0"

/** The orientation the file states (1–8), or undefined when it states none (or a value outside 1–8). */
export function exifOrientation(bytes: Uint8Array, format: ImageFormat): Orientation | undefined {
  const at = exifStart(bytes, format);
  if (at === undefined) return undefined;
  const value = readIfd0(bytes, at)?.get(TIFF_TAG.orientation)?.[0];
  return value !== undefined && value >= 1 && value <= 8 ? (value as Orientation) : undefined;
}

/** True when an orientation swaps width and height (the transposed ones). */
export function swapsSides(o: Orientation | undefined): boolean {
  return o !== undefined && o >= 5;
}

/** Where the TIFF structure holding the orientation starts in the file, if it has one. */
function exifStart(b: Uint8Array, format: ImageFormat): number | undefined {
  switch (format) {
    case 'tiff':
      return 0;
    case 'jpeg':
      return jpegExif(b);
    case 'png':
      return pngExif(b);
    case 'webp':
      return webpExif(b);
    default:
      return undefined; // BMP and GIF carry no EXIF
  }
}

function startsWith(b: Uint8Array, at: number, prefix: number[]): boolean {
  if (at + prefix.length > b.length) return false;
  return prefix.every((v, i) => b[at + i] === v);
}

/** The first APP1 "Exif" segment before the first scan. */
function jpegExif(b: Uint8Array): number | undefined {
  for (const s of jpegSegments(b)) if (s.marker === 0xe1 && startsWith(b, s.payload, EXIF_PREFIX)) return s.payload + EXIF_PREFIX.length;
  return undefined;
}

/** The eXIf chunk (browsers read it wherever it is; the spec puts it before IDAT). */
function pngExif(b: Uint8Array): number | undefined {
  let i = 8;
  while (i + 8 <= b.length) {
    const length = ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
    const type = String.fromCharCode(b[i + 4], b[i + 5], b[i + 6], b[i + 7]);
    if (type === 'eXIf') return i + 8 + (startsWith(b, i + 8, EXIF_PREFIX) ? EXIF_PREFIX.length : 0);
    if (type === 'IEND') return undefined;
    i += 12 + length;
  }
  return undefined;
}

/** The RIFF "EXIF" chunk (after the image data, by the WebP container spec); some writers keep the "Exif\0\0" prefix. */
function webpExif(b: Uint8Array): number | undefined {
  let i = 12;
  while (i + 8 <= b.length) {
    const type = String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);
    const size = (b[i + 4] | (b[i + 5] << 8) | (b[i + 6] << 16) | (b[i + 7] << 24)) >>> 0;
    if (type === 'EXIF') return i + 8 + (startsWith(b, i + 8, EXIF_PREFIX) ? EXIF_PREFIX.length : 0);
    i += 8 + size + (size & 1); // chunks are padded to an even size
  }
  return undefined;
}

/**
 * The stored pixel (x, y) that lands at (u, v) of the upright image, for stored size w×h. Per EXIF: 2 mirrors
 * left-right, 3 turns 180°, 4 mirrors top-bottom, 5 transposes, 6 turns 90° clockwise, 7 transverses, 8 turns 90°
 * counter-clockwise.
 */
function sourceOf(o: Orientation, u: number, v: number, w: number, h: number): [number, number] {
  switch (o) {
    case 1:
      return [u, v];
    case 2:
      return [w - 1 - u, v];
    case 3:
      return [w - 1 - u, h - 1 - v];
    case 4:
      return [u, h - 1 - v];
    case 5:
      return [v, u];
    case 6:
      return [v, h - 1 - u];
    case 7:
      return [w - 1 - v, h - 1 - u];
    case 8:
      return [w - 1 - v, u];
  }
}

function remap<T extends Uint8Array | Uint16Array>(src: T, o: Orientation, w: number, h: number, out: T): T {
  const ow = swapsSides(o) ? h : w;
  const oh = swapsSides(o) ? w : h;
  for (let v = 0; v < oh; v++) {
    for (let u = 0; u < ow; u++) {
      const [x, y] = sourceOf(o, u, v, w, h);
      const s = (y * w + x) * 4;
      const d = (v * ow + u) * 4;
      out[d] = src[s];
      out[d + 1] = src[s + 1];
      out[d + 2] = src[s + 2];
      out[d + 3] = src[s + 3];
    }
  }
  return out;
}

/**
 * `img` with the file's orientation recorded, and applied when `apply` is true: upright pixels, sides swapped
 * for 5–8 (the real size in `original` too). An image that states no orientation, or 1, comes back unchanged.
 */
export function orientImage(img: DecodedImage, stated: Orientation | undefined, apply: boolean): DecodedImage {
  if (stated === undefined || stated === 1) return img;
  if (!apply) return { ...img, orientation: { stated, applied: false } };
  const { width: w, height: h } = img;
  const swap = swapsSides(stated);
  return {
    ...img,
    width: swap ? h : w,
    height: swap ? w : h,
    data: remap(img.data, stated, w, h, new Uint8Array(img.data.length)),
    data16: img.data16 && remap(img.data16, stated, w, h, new Uint16Array(img.data16.length)),
    original: img.original && (swap ? { width: img.original.height, height: img.original.width } : img.original),
    orientation: { stated, applied: true },
  };
}
