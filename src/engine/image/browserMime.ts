/**
 * The MIME type of each format we read that a browser (the webview, an HTML report) draws from the file's own
 * bytes. TIFF is not one: it is always re-encoded. One table for every place that embeds an image file as itself.
 */
import type { ImageFormat } from './decode';

export const BROWSER_MIME: Partial<Record<ImageFormat, string>> = {
  png: 'image/png',
  jpeg: 'image/jpeg',
  bmp: 'image/bmp',
  gif: 'image/gif',
  webp: 'image/webp',
};
