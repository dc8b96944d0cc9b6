import * as fs from 'node:fs';
import * as path from 'node:path';
import { inputImages } from '../../shared/imageFiles';

/** A directory entry that is a file, following a symbolic link. */
function isFileEntry(dir: string, entry: fs.Dirent): boolean {
  if (!entry.isSymbolicLink()) return entry.isFile();
  try {
    return fs.statSync(path.join(dir, entry.name)).isFile();
  } catch {
    return false;
  }
}

/**
 * The images a folder run explains (names, sorted; not recursive): image files only, so the exports folder
 * and any other folder are passed over, and not our own outputs (overlays written beside the inputs).
 */
export function listInputImages(dir: string): string[] {
  return inputImages(fs.readdirSync(dir, { withFileTypes: true }).map((d) => ({ name: d.name, isFile: isFileEntry(dir, d) })));
}
