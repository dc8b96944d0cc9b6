/**
 * The copy of an image the panel shows: the file's own bytes when it fits DISPLAY_LONG_SIDE, is upright and a
 * browser draws its format (it draws them exactly), else the working image re-encoded at most DISPLAY_LONG_SIDE
 * long (JPEG when opaque, PNG when it has transparency; always 8 bits), so a 36-megapixel file never travels to
 * the webview and a rotated photo is shown as the engine saw it.
 */
import * as jpeg from 'jpeg-js';
import { encodePng, isOpaque } from './encode';
import { DISPLAY_LONG_SIDE, fitLongSide } from './budget';
import type { DecodedImage } from './decode';
import { displayAsIs } from './displayAsIs';
import { areaDownscale } from './downscale';
import { realSize } from './load';
import { encodeResized, sharpIfAvailable } from './sharpCodec';
import type { DisplayImageMsg } from '../../shared/protocol';

export type DisplayCopy = DisplayImageMsg;

/**
 * The display copy of an image file's bytes: the bytes themselves when a browser draws them as the engine sees
 * them (small, upright, a format it reads), else `working()` (the engine's cached working image: downscaled,
 * turned by the EXIF orientation or not, as the engine was told) re-encoded, so the maps always lie over exactly
 * the pixels shown.
 */
export async function displayCopyOf(bytes: Uint8Array, file: string, working: () => Promise<DecodedImage>): Promise<DisplayCopy> {
  return displayAsIs(bytes, file) ?? displayReencoded(await working());
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
