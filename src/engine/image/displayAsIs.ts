/**
 * Whether a browser can show an image file's own bytes as the panel's picture: small enough (DISPLAY_LONG_SIDE), a
 * format it draws, and upright (a file stating an EXIF turn is drawn by the engine's pixels instead, so the maps lie
 * over exactly what is shown whichever way the engine was told to read it). Light on purpose: the extension host
 * decides with it before asking the engine process, and the engine's display copy (display.ts) starts from it.
 */
import { showsAsIs, type Size } from './budget';
import { BROWSER_MIME } from './browserMime';
import { decodableFormat, imageHeaderSize } from './decode';
import { exifOrientation } from './orientation';
import type { DisplayImageMsg } from '../../shared/protocol';

/** The file's own bytes as a display copy of its size. */
function displayOriginal(bytes: Uint8Array, mime: string, size: Size): DisplayImageMsg {
  const dataUrl = `data:${mime};base64,${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
  return { dataUrl, width: size.width, height: size.height, displayWidth: size.width, displayHeight: size.height };
}

/** The bytes themselves as the display copy when a browser shows them as the engine sees them; undefined otherwise. */
export function displayAsIs(bytes: Uint8Array, file: string): DisplayImageMsg | undefined {
  const format = decodableFormat(bytes, file);
  const size = imageHeaderSize(bytes, file, format);
  const mime = BROWSER_MIME[format];
  return mime && showsAsIs({ ...size, orientation: exifOrientation(bytes, format) }) ? displayOriginal(bytes, mime, size) : undefined;
}
