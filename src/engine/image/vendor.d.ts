// Minimal types for bmp-js 0.1.0, which ships none. Only what src/engine/image uses.
declare module 'bmp-js' {
  /** Pixel data is ABGR (byte 0 = alpha, then blue, green, red), one 4-byte group per pixel, top row first. */
  export interface BmpImage {
    width: number;
    height: number;
    data: Buffer;
  }
  /** Throws on a bad signature; reads past the end of a truncated file throw a RangeError. */
  export function decode(buffer: Buffer): BmpImage & { bitPP: number; is_with_alpha: boolean };
  /** Writes a 24-bit top-down BMP from ABGR pixel data (the first byte of each pixel is skipped). */
  export function encode(img: BmpImage, quality?: number): BmpImage;
}
