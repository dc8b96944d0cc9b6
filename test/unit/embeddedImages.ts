/** Reading the pictures a self-contained HTML report embeds, with decoders independent of the code that wrote them. */
import * as jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

export interface Embedded {
  alt: string;
  mime: string;
  bytes: Buffer;
  width: number;
  height: number;
  /** RGBA */
  data: Uint8Array;
}

export function decodePicture(mime: string, bytes: Buffer): { width: number; height: number; data: Uint8Array } {
  if (mime === 'image/png') return PNG.sync.read(bytes);
  if (mime === 'image/jpeg') return jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
  throw new Error(`unexpected embedded type ${mime}`);
}

/** Every `<img alt="…" src="data:…">` of the page, decoded. */
export function embeddedImages(html: string): Embedded[] {
  return [...html.matchAll(/<img alt="([^"]*)" src="data:([^;]+);base64,([^"]+)">/g)].map(([, alt, mime, b64]) => {
    const bytes = Buffer.from(b64, 'base64');
    return { alt, mime, bytes, ...decodePicture(mime, bytes) };
  });
}
