/**
 * The copy of an image the panel shows: the file's own bytes when it fits DISPLAY_LONG_SIDE (the browser
 * draws them exactly), else the working image re-encoded at most DISPLAY_LONG_SIDE long (JPEG when opaque,
 * PNG when it has transparency), so a 36-megapixel file never travels to the webview.
 */
import * as jpeg from 'jpeg-js';
import { encodePng, isOpaque } from './encode';
import { DISPLAY_LONG_SIDE, fitLongSide, showsAsIs, type Size } from './budget';
import { imageSize } from 'image-size';
import { fileError } from '../errors';
import { decodableFormat, imageHeaderSize, sniffFormat, type DecodedImage, type ImageFormat } from './decode';
import { areaDownscale } from './downscale';
import { realSize } from './load';
import { encodeResized, sharpIfAvailable } from './sharpCodec';
import type { DisplayImageMsg } from '../../shared/protocol';

const MIME: Record<ImageFormat, string> = { png: 'image/png', jpeg: 'image/jpeg', bmp: 'image/bmp', gif: 'image/gif', webp: 'image/webp' };

export type DisplayCopy = DisplayImageMsg;

/** A JPEG's EXIF orientation (1–8), if its header states one. */
function orientationOf(bytes: Uint8Array): number | undefined {
  try {
    return imageSize(bytes).orientation;
  } catch {
    return undefined;
  }
}

/** The file's own bytes as the display copy (call when `showsAsIs(size)`). */
export function displayOriginal(bytes: Uint8Array, format: ImageFormat, size: Size): DisplayCopy {
  const dataUrl = `data:${MIME[format]};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
  return { dataUrl, width: size.width, height: size.height, displayWidth: size.width, displayHeight: size.height };
}

/**
 * The display copy of an image file's bytes: the bytes themselves when they fit, else `working()` (the
 * engine's cached working image) re-encoded. WebP, which we cannot decode yet, still shows as is.
 */
export async function displayCopyOf(bytes: Uint8Array, file: string, working: () => Promise<DecodedImage>): Promise<DisplayCopy> {
  const format = sniffFormat(bytes) === 'webp' ? 'webp' : decodableFormat(bytes, file);
  const size = format === 'webp' ? webpSize(bytes, file) : imageHeaderSize(bytes, file, format);
  if (format === 'webp' || showsAsIs({ ...size, orientation: format === 'jpeg' ? orientationOf(bytes) : undefined })) {
    return displayOriginal(bytes, format, size);
  }
  return displayReencoded(await working());
}

function webpSize(bytes: Uint8Array, file: string): Size {
  try {
    const { width = 0, height = 0 } = imageSize(bytes);
    return { width, height };
  } catch {
    throw fileError(file, 'the WebP header is truncated or corrupt');
  }
}

/** A display-sized encoding of a decoded (possibly already downscaled) image. */
export async function displayReencoded(img: DecodedImage): Promise<DisplayCopy> {
  const real = realSize(img);
  // Sized from the real size, so the copy has the image's own aspect ratio whatever the working copy's rounding.
  const out = fitLongSide(real, DISPLAY_LONG_SIDE);
  const fits = out.width <= img.width && out.height <= img.height;
  const opaque = isOpaque(img.data);
  const sharp = sharpIfAvailable();
  let mime: string;
  let bytes: Uint8Array;
  if (sharp) {
    ({ mime, bytes } = await encodeResized(sharp, img, out, opaque));
  } else {
    const small = fits && (out.width !== img.width || out.height !== img.height) ? { ...out, data: areaDownscale(img, out) } : img;
    mime = opaque ? 'image/jpeg' : 'image/png';
    bytes = opaque ? jpeg.encode({ width: small.width, height: small.height, data: small.data }, 90).data : encodePng(small);
  }
  const dataUrl = `data:${mime};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
  return { dataUrl, width: real.width, height: real.height, displayWidth: out.width, displayHeight: out.height };
}
