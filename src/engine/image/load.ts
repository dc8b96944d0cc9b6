/**
 * Image file -> the working image the engine explains: full size when it fits WORKING_LONG_SIDE (decoded
 * exactly as decode.ts always has), else downscaled to fit it, aspect ratio kept, with its real size in
 * `original`. Large PNG and JPEG decode straight to the working size through sharp when it is available;
 * otherwise (and for large GIF and BMP) the JS decoders decode the whole image and it is area-downscaled at
 * once. Either way the decoder's peak memory is estimated from the header first, and an image that would
 * need more than MEMORY_BOUND_BYTES is refused before any pixel is decoded.
 */
import { checkMemory, fitLongSide, WORKING_LONG_SIDE, type Size } from './budget';
import { fileError } from '../errors';
import { decodableFormat, decodeImage, FORMAT_NAME, imageHeaderSize, jpegHasEnd, readImageBytes, type DecodedImage } from './decode';
import { areaDownscale } from './downscale';
import { jpegLayout, jsDecodePeak, pngLayout, sharpDecodePeak } from './peakMemory';
import { decodeToSize, sharpIfAvailable } from './sharpCodec';

/** Reads an image file and decodes its working image. */
export async function loadImageFile(file: string): Promise<DecodedImage> {
  return loadImage(readImageBytes(file), file);
}

/** The real (file's own) size of a decoded image, whether or not it was downscaled. */
export function realSize(img: DecodedImage): Size {
  return img.original ?? { width: img.width, height: img.height };
}

export async function loadImage(bytes: Uint8Array, file: string): Promise<DecodedImage> {
  const format = decodableFormat(bytes, file);
  const size = imageHeaderSize(bytes, file, format);
  const out = fitLongSide(size, WORKING_LONG_SIDE);
  if (out.width === size.width && out.height === size.height) return decodeImage(bytes, file);

  const sharp = format === 'png' || format === 'jpeg' ? sharpIfAvailable() : undefined;
  if (sharp && (format === 'png' || format === 'jpeg')) {
    const layout = format === 'png' ? pngLayout(bytes) : jpegLayout(bytes);
    checkMemory(file, size, sharpDecodePeak(format, size, bytes.length, out, layout));
    // libjpeg only warns about a cut-off file (and fills the rest grey); refuse it as the JS path does.
    if (format === 'jpeg' && !jpegHasEnd(bytes)) throw fileError(file, 'the JPEG data is truncated or corrupt (no end-of-image marker: the file ends early)');
    const data = await decodeToSize(sharp, bytes, file, FORMAT_NAME[format], out);
    return { width: out.width, height: out.height, data, format, original: size };
  }

  // The whole image within the bound (decodeImage checks it from the header too), then the small copy.
  const layout = format === 'png' ? pngLayout(bytes) : format === 'jpeg' ? jpegLayout(bytes) : undefined;
  checkMemory(file, size, jsDecodePeak(format, size, bytes.length, layout) + 4 * out.width * out.height);
  const full = decodeImage(bytes, file);
  // A GIF frame larger than its logical screen grows the image: size the copy from what was decoded.
  const real = { width: full.width, height: full.height };
  const small = fitLongSide(real, WORKING_LONG_SIDE);
  if (small.width === real.width && small.height === real.height) return full;
  return { width: small.width, height: small.height, data: areaDownscale(full, small), format, original: real };
}
