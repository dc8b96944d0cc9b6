/**
 * How a model is named and described wherever it is shown (status bar, Model view, model picker, panel
 * header): one wording each, so the views never disagree.
 */

/** The file a model path names, without its folders ('/' or '\' separated). */
function parts(modelPath: string): string[] {
  return modelPath.split(/[\\/]/).filter(Boolean);
}

/**
 * A model's short name: its folder for a TF.js model.json (every TF.js model is called model.json) or for a folder
 * given as the model; a single-file model (.onnx, .keras, .h5) as folder/file, since exports name them alike
 * (model.onnx, model.keras).
 */
export function modelName(modelPath: string): string {
  const p = parts(modelPath);
  const file = p.at(-1) ?? modelPath;
  if (file.toLowerCase() === 'model.json' && p.length > 1) return p[p.length - 2];
  return /\.[a-z0-9]+$/i.test(file) && p.length > 1 ? `${p[p.length - 2]}/${file}` : file;
}

/** What computes the maps: "onnxruntime · 2 threads", "wasm" (one thread says nothing). */
export function backendText(backend: { name: string; threads: number }): string {
  return backend.threads > 1 ? `${backend.name} · ${backend.threads} threads` : backend.name;
}

/** The model's own input tensor, as declared (batch 1), and its layout when it has one: "[1, 3, 224, 224] NCHW". */
export function inputTensorText(input: { shape: number[]; layout?: string }): string {
  return `[${input.shape.join(', ')}]${input.layout ? ` ${input.layout}` : ''}`;
}

/** The image the model sees, whatever the tensor's layout: "224×224, 3 channels". */
export function imageSizeText(image: { height: number; width: number; channels: number }): string {
  return `${image.height}×${image.width}, ${image.channels} channel${image.channels === 1 ? '' : 's'}`;
}

/** One entry of the model picker. */
export interface ModelChoice {
  path: string;
  label: string;
  description: string;
  /** The model in use now. */
  current: boolean;
}

const trimmed = (p: string) => p.replace(/[\\/]+$/, '');
const dirname = (p: string) => trimmed(p).replace(/[\\/][^\\/]*$/, '');

/**
 * The model picker's entries: each model by its short name and its place in the workspace, the one in use
 * marked (a folder in use, as the setting may name one, marks the model inside it). `relative` turns a path
 * into its workspace-relative form.
 */
export function modelChoices(found: string[], current: string | undefined, relative: (p: string) => string): ModelChoice[] {
  const isCurrent = (file: string) => !!current && (trimmed(file) === trimmed(current) || dirname(file) === trimmed(current));
  return found.map((file) => {
    const now = isCurrent(file);
    return {
      path: file,
      label: `${now ? '$(check) ' : ''}${modelName(file)}`,
      description: now ? `current · ${relative(file)}` : relative(file),
      current: now,
    };
  });
}
