/**
 * Which files are inputs and which are ours: what the Explorer menu offers, what a folder run picks up,
 * where exports go and how they are named. Host, CLI and webview share it.
 */
import { isMethodName } from './methods';

/** The extensions of the files Saliency Lens explains (the engine reads the format from the bytes, not from these). */
export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'webp', 'tif', 'tiff', 'bmp', 'gif'] as const;

/** File names Saliency Lens explains: what the Explorer menu offers and what a folder run picks up. */
export const IMAGE_FILE = new RegExp(`\\.(${IMAGE_EXTENSIONS.join('|')})$`, 'i');

/** The formats, as a sentence names them ("no PNG, JPEG, WebP, TIFF, BMP or GIF images"). */
export const IMAGE_FORMATS_TEXT = 'PNG, JPEG, WebP, TIFF, BMP or GIF';

/** The folder beside an image that the panel's exports are proposed in; folder runs never read it. */
export const EXPORTS_FOLDER = 'saliency-lens-exports';

/** Extensions of what exports write: overlays and raw maps. */
const EXPORT_EXTENSIONS = ['png', 'npy'] as const;

/**
 * A file name safe on every OS, named as the CLI names its outputs (`<image>.<method>.png|npy`, methods by
 * registry name, then any qualifiers): "photo.saliency.npy", "photo.gradcam++.281-tabby_cat.png".
 */
export function exportName(imageName: string, parts: string[], ext: (typeof EXPORT_EXTENSIONS)[number]): string {
  const clean = [stemOf(imageName), ...parts].map(safePart).filter(Boolean);
  return `${clean.join('.')}.${ext}`;
}

const stemOf = (name: string) => name.replace(/\.[^./\\]+$/, '');
const safePart = (p: string) => p.replace(/[^\w.+-]+/g, '_').replace(/^_+|_+$/g, '');

/**
 * The inverse of `exportName`: for `<stem>.<method>[.…].png|npy` (a registry method name among the dotted parts
 * after the stem), the stems it could come from (a stem may hold a method's name itself: "img.lime.jpg"); none for
 * other names. "photo.v2.png" has none; "photo.gradcam.png" has "photo".
 */
export function exportedStems(name: string): string[] {
  const parts = name.split('.');
  const ext = parts.pop()?.toLowerCase();
  if (!EXPORT_EXTENSIONS.some((e) => e === ext) || parts.length < 2) return [];
  return parts.flatMap((p, i) => (i > 0 && isMethodName(p.toLowerCase()) ? [parts.slice(0, i).join('.')] : []));
}

/**
 * The images of a folder listing to explain, sorted by name: image files, not folders, and not our exports. A
 * name shaped like an export ("sunset.rise.png") counts as ours only when the image it would come from is beside
 * it ("sunset.jpg"): a user's file is never passed over for its name alone.
 */
export function inputImages(entries: { name: string; isFile: boolean }[]): string[] {
  const images = entries.filter((e) => e.isFile && IMAGE_FILE.test(e.name)).map((e) => e.name);
  const inputStems = new Set(images.filter((n) => exportedStems(n).length === 0).map((n) => safePart(stemOf(n))));
  return images.filter((n) => !exportedStems(n).some((stem) => inputStems.has(stem))).sort();
}
