/**
 * Image file -> the working image the engine explains: full size when it fits WORKING_LONG_SIDE, else
 * downscaled to fit it, aspect ratio kept, with its real size in `original`; turned upright by the file's EXIF
 * orientation unless told not to (orientation.ts).
 *
 * Who decodes what:
 * - PNG (8- and 16-bit), BMP and GIF that fit: the JS decoders of decode.ts, exactly as always.
 * - JPEG: sharp, 5–8× faster than jpeg-js (measured on a 12-megapixel photo: 120 ms on 2 threads, 187 ms on one,
 *   against 943 ms), strict about libjpeg's warnings at every size; jpeg-js decodes what sharp will not (when it
 *   fits the memory bound), and everything where sharp cannot load.
 * - WebP and TIFF (first page): sharp, the only decoder here that reads them; refused in one sentence where
 *   sharp has no binary for the platform.
 * - Large PNG, JPEG, WebP and TIFF: sharp decodes straight to the working size; where it cannot load, the JS
 *   decoders decode the whole PNG or JPEG (and always GIF and BMP) and it is area-downscaled at once.
 * Either way the decoder's peak memory is estimated from the header first, and an image that would need more
 * than MEMORY_BOUND_BYTES (or has more than MAX_DECODE_PIXELS) is refused before any pixel is decoded.
 *
 * 16 bits per sample survive every sharp path (`data16`); only the no-sharp fallback for a large 16-bit PNG goes
 * through 8 bits, because area-downscaling works on `data`. Embedded ICC profiles are ignored on every path:
 * the samples as stored, as PIL's convert('RGB') and torchvision's decoders give them to the models they train.
 */
import { fileError } from '../errors';
import { checkMemory, fitLongSide, MEMORY_BOUND_BYTES, WORKING_LONG_SIDE, type Size } from './budget';
import { corrupt, decodableFormat, decodeImage, imageHeaderSize, needsSharp, readImageBytes, type DecodedImage, type ImageFormat } from './decode';
import { areaDownscale } from './downscale';
import { jpegHasEnd } from './jpegSegments';
import { exifOrientation, orientImage } from './orientation';
import { jpegLayout, jsDecodePeak, pngLayout, sharpDecodePeak, tiffLayout, type PixelLayout, type TiffLayout } from './peakMemory';
import { decodeToSize, sharpIfAvailable, sharpLoadFailure, type Sharp } from './sharpCodec';

export interface LoadOptions {
  /**
   * Turn the pixels upright by the EXIF orientation the file states (default true, as browsers draw such files);
   * false reads them as stored. The VS Code setting and the CLI's --no-exif-orientation set it.
   */
  exifOrientation?: boolean;
}

/** Reads an image file and decodes its working image. */
export async function loadImageFile(file: string, opts: LoadOptions = {}): Promise<DecodedImage> {
  return loadImage(readImageBytes(file), file, opts);
}

/** The real (file's own) size of a decoded image, whether or not it was downscaled; upright when it was turned. */
export function realSize(img: DecodedImage): Size {
  return img.original ?? { width: img.width, height: img.height };
}

export async function loadImage(bytes: Uint8Array, file: string, opts: LoadOptions = {}): Promise<DecodedImage> {
  const format = decodableFormat(bytes, file);
  const img = await decodeWorking(bytes, file, format);
  return orientImage(img, exifOrientation(bytes, format), opts.exifOrientation !== false);
}

/** Bits per sample libvips reads from a TIFF (libtiff hands 12-bit samples over packed, and libvips fails on them). */
const TIFF_BITS = [1, 2, 4, 8, 16];
/** Grey, grey and alpha, RGB, RGBA, CMYK and alpha: more samples per pixel than these is no photo. */
const MAX_TIFF_SAMPLES = 5;

/** What the header says about samples, for the memory estimate and the choice of 8 or 16 bits. */
function layoutOf(bytes: Uint8Array, file: string, format: ImageFormat, size: Size): PixelLayout | TiffLayout | undefined {
  if (format === 'png') return pngLayout(bytes);
  if (format === 'jpeg') return jpegLayout(bytes);
  if (format !== 'tiff') return undefined;
  const tiff = tiffLayout(bytes, size);
  if (!tiff) return undefined;
  const odd = tiff.bitsPerSample.find((b) => !TIFF_BITS.includes(b));
  if (tiff.sampleFormat !== 1 || odd !== undefined) {
    const kind = tiff.sampleFormat === 3 ? 'floating-point' : tiff.sampleFormat === 2 ? 'signed integer' : 'integer';
    throw fileError(file, `a TIFF with ${odd ?? tiff.bitDepth}-bit ${kind} samples is not supported; save it with unsigned 8- or 16-bit samples`);
  }
  if (tiff.channels < 1 || tiff.channels > MAX_TIFF_SAMPLES) {
    throw fileError(file, `a TIFF with ${tiff.channels} samples per pixel is not supported; save it as grey, RGB or RGBA`);
  }
  return tiff;
}

async function decodeWorking(bytes: Uint8Array, file: string, format: ImageFormat): Promise<DecodedImage> {
  const size = imageHeaderSize(bytes, file, format);
  const layout = layoutOf(bytes, file, format, size);
  const out = fitLongSide(size, WORKING_LONG_SIDE);
  const fits = out.width === size.width && out.height === size.height;
  const native = format === 'webp' || format === 'tiff';
  // A JPEG goes to sharp at any size: libjpeg-turbo decodes a 12-megapixel photo in 120 ms where jpeg-js takes 940 ms.
  if (fits && !native && format !== 'jpeg') return decodeImage(bytes, file);

  const sharp = format === 'gif' || format === 'bmp' ? undefined : sharpIfAvailable();
  if (sharp && format !== 'gif' && format !== 'bmp') {
    const depth = (layout?.bitDepth ?? 8) > 8 ? 16 : 8;
    checkMemory(file, size, sharpDecodePeak(format, size, bytes.length, out, layout, depth === 16 ? 2 : 1));
    if (format === 'jpeg') return decodeJpegStrict(sharp, bytes, file, size, out, layout);
    if (format === 'webp' && webpEndsEarly(bytes)) throw corrupt(file, 'webp', 'the file ends early');
    const pixels = await decodeToSize(sharp, bytes, file, format, size, out, depth);
    return { width: out.width, height: out.height, ...pixels, format, ...(fits ? {} : { original: size }) };
  }
  if (fits && !native) return decodeImage(bytes, file);
  if (native) throw needsSharp(file, format, sharpLoadFailure() || 'no sharp binary for this platform');
  return decodeWholeThenShrink(bytes, file, format, size, layout);
}

/**
 * A JPEG at any size, under one damage policy. libjpeg only warns about a cut-off or damaged scan (and fills the
 * rest grey), so sharp runs strict: any warning fails it. On such a file jpeg-js, which refuses damaged data
 * outright, decides (camera files often carry harmless warnings, e.g. extraneous bytes before a marker) when its
 * whole-image decode fits the memory bound; otherwise the file is refused with libjpeg's reason.
 */
async function decodeJpegStrict(sharp: Sharp, bytes: Uint8Array, file: string, size: Size, out: Size, layout: PixelLayout | undefined): Promise<DecodedImage> {
  if (!jpegHasEnd(bytes)) throw corrupt(file, 'jpeg', 'no end-of-image marker: the file ends early');
  let strict: unknown;
  const pixels = await decodeToSize(sharp, bytes, file, 'jpeg', size, out, 8, 'warning').catch((err: unknown) => {
    strict = err;
    return undefined;
  });
  const fits = out.width === size.width && out.height === size.height;
  if (pixels) return { width: out.width, height: out.height, ...pixels, format: 'jpeg', ...(fits ? {} : { original: size }) };
  if (jsDecodePeak('jpeg', size, bytes.length, layout) + 4 * out.width * out.height > MEMORY_BOUND_BYTES) throw strict;
  return decodeWholeThenShrink(bytes, file, 'jpeg', size, layout);
}

/**
 * The JS decoders' path: the whole image within the bound (decodeImage checks it from the header too), then the
 * area-downscaled working copy when it is larger than WORKING_LONG_SIDE. A 16-bit PNG goes through 8 bits here:
 * area-downscaling works on `data` (sharp, where it loads, keeps the 16 bits).
 */
function decodeWholeThenShrink(bytes: Uint8Array, file: string, format: ImageFormat, size: Size, layout: PixelLayout | undefined): DecodedImage {
  const out = fitLongSide(size, WORKING_LONG_SIDE);
  checkMemory(file, size, jsDecodePeak(format, size, bytes.length, layout) + 4 * out.width * out.height);
  const full = decodeImage(bytes, file);
  // A GIF frame larger than its logical screen grows the image: size the copy from what was decoded.
  const real = { width: full.width, height: full.height };
  const small = fitLongSide(real, WORKING_LONG_SIDE);
  if (small.width === real.width && small.height === real.height) return full;
  return { width: small.width, height: small.height, data: areaDownscale(full, small), format, original: real };
}

/** True when the RIFF header says the file is longer than it is: libwebp would only say it cannot parse it. */
function webpEndsEarly(bytes: Uint8Array): boolean {
  const riffSize = (bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24)) >>> 0;
  return bytes.length < 8 + riffSize;
}
