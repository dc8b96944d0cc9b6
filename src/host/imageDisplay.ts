/**
 * The picture an explain panel shows for its image, and the image's real size. A small image (no longer than
 * DISPLAY_LONG_SIDE) goes as the file's own bytes, read here at once; a larger one as the engine's
 * display-sized copy, so a 36-megapixel file is never base64-encoded into the webview.
 */
import * as fs from 'node:fs';
import { imageSize } from 'image-size';
import { showsAsIs } from '../engine/image/budget';
import { displayAsIs } from '../engine/image/displayAsIs';
import { DisplayImageMsg, ENGINE } from '../shared/protocol';
import type { EngineClient } from './engineClient';

/** Enough of a file for its header (a JPEG's frame header can follow up to ~64 KB of EXIF per segment). */
const HEADER_BYTES = 512 * 1024;

export async function imageDisplay(file: string, engine: EngineClient): Promise<DisplayImageMsg> {
  const header = await headerOf(file);
  // Read whole only when small: the engine's own rule (displayAsIs) then decides, from the format and any EXIF turn.
  if (header && showsAsIs(header)) {
    try {
      const asIs = displayAsIs(await fs.promises.readFile(file), file);
      if (asIs) return asIs;
    } catch {
      // Not an image after all: the engine says in one sentence what is wrong.
    }
  }
  // Large, rotated, TIFF (no browser draws it), or a header we cannot read here: the engine decodes it.
  return engine.request(ENGINE.displayImage, { imagePath: file });
}

/** The size, format and EXIF orientation from the file's header, or undefined when the first bytes do not tell them. */
async function headerOf(file: string): Promise<{ width: number; height: number; type: string; orientation?: number } | undefined> {
  let handle: fs.promises.FileHandle | undefined;
  try {
    handle = await fs.promises.open(file, 'r');
    const buffer = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEADER_BYTES, 0);
    const { width, height, type, orientation } = imageSize(buffer.subarray(0, bytesRead));
    return width > 0 && height > 0 && type ? { width, height, type, orientation } : undefined;
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}
