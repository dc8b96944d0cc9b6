/**
 * Which files are inputs and which are ours: what the Explorer menu offers, what a folder run picks up,
 * where exports go and how they are named. Host, CLI and webview share it.
 */
import { isMethodName } from './methods';

/** File names Saliency Lens explains: what the Explorer menu offers and what a folder run picks up. */
export const IMAGE_FILE = /\.(png|jpe?g|bmp|gif|webp)$/i;

/** The folder beside an image that the panel's exports are proposed in; folder runs never read it. */
export const EXPORTS_FOLDER = 'saliency-lens-exports';

/** Extensions of what exports write: overlays and raw maps. */
const EXPORT_EXTENSIONS = ['png', 'npy'] as const;

/**
 * A file name safe on every OS, named as the CLI names its outputs (`<image>.<method>.png|npy`, methods by
 * registry name, then any qualifiers): "photo.saliency.npy", "photo.gradcam++.281-tabby_cat.png".
 */
export function exportName(imageName: string, parts: string[], ext: (typeof EXPORT_EXTENSIONS)[number]): string {
  const stem = imageName.replace(/\.[^./\\]+$/, '');
  const clean = [stem, ...parts].map((p) => p.replace(/[^\w.+-]+/g, '_').replace(/^_+|_+$/g, '')).filter(Boolean);
  return `${clean.join('.')}.${ext}`;
}

/**
 * The inverse of `exportName`: `<stem>.<method>[.…].png|npy`, a registry method name among the dotted parts
 * after the stem. A user's "photo.v2.png" is an input; "photo.gradcam.png" is one of our exports.
 */
export function isExportedFile(name: string): boolean {
  const parts = name.split('.');
  const ext = parts.pop()?.toLowerCase();
  if (!EXPORT_EXTENSIONS.some((e) => e === ext) || parts.length < 2) return false;
  return parts.slice(1).some((p) => isMethodName(p.toLowerCase()));
}

/** The images of a folder listing to explain: image files, not folders, not our exports; sorted by name. */
export function inputImages(entries: { name: string; isFile: boolean }[]): string[] {
  return entries.filter((e) => e.isFile && IMAGE_FILE.test(e.name) && !isExportedFile(e.name)).map((e) => e.name).sort();
}
