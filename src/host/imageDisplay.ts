/**
 * The picture an explain panel shows for its image, and the image's real size. A small image (no longer than
 * DISPLAY_LONG_SIDE) goes as the file's own bytes, read here at once; a larger one as the engine's
 * display-sized copy, so a 36-megapixel file is never base64-encoded into the webview.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { imageSize } from 'image-size';
import { DISPLAY_LONG_SIDE } from '../engine/image/budget';
import { DisplayImageMsg, ENGINE } from '../shared/protocol';
import type { EngineClient } from './engineClient';

const IMAGE_MIME: Record<string, string> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.bmp': 'image/bmp', '.gif': 'image/gif', '.webp': 'image/webp',
};

/** Enough of a file for its header (a JPEG's frame header can follow up to ~64 KB of EXIF per segment). */
const HEADER_BYTES = 512 * 1024;

export async function imageDisplay(file: string, engine: EngineClient): Promise<DisplayImageMsg> {
  const size = await headerSizeOf(file);
  if (size && Math.max(size.width, size.height) <= DISPLAY_LONG_SIDE) {
    const mime = IMAGE_MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
    const dataUrl = `data:${mime};base64,${(await fs.promises.readFile(file)).toString('base64')}`;
    return { dataUrl, ...size, displayWidth: size.width, displayHeight: size.height };
  }
  // Large, or a header we cannot read here: the engine decodes it (and says in one sentence what is wrong).
  return engine.request(ENGINE.displayImage, { imagePath: file });
}

/** The size from the file's header, or undefined when the first bytes do not tell it. */
async function headerSizeOf(file: string): Promise<{ width: number; height: number } | undefined> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const buffer = Buffer.alloc(HEADER_BYTES);
    const { bytesRead } = await handle.read(buffer, 0, HEADER_BYTES, 0);
    const { width, height } = imageSize(buffer.subarray(0, bytesRead));
    return width > 0 && height > 0 ? { width, height } : undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close();
  }
}
