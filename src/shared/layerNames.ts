/**
 * Readable layer names. TF.js GraphModels name nodes by their full TensorFlow scope
 * (`StatefulPartitionedCall/sequential/keras_layer/StatefulPartitionedCall/…/MobilenetV2/Conv_1/Relu6`):
 * wherever a name is shown, its call wrappers are dropped and only the last scopes kept, as many as make
 * it unique among the model's layers. ONNX nodes named by torch.onnx.export are shown by their PyTorch
 * module path (`encoder.layers.encoder_layer_11.ln_1`). Full names stay in tooltips and JSON and are
 * always accepted.
 */

/** Scopes TensorFlow adds for function calls: no layer of the user's model. */
const CALL_WRAPPER = /^(StatefulPartitionedCall|PartitionedCall)(_\d+)?$/;

/** Trailing scopes shown at least (model/layer/op). */
const MIN_SCOPES = 3;

/** A name's scopes without TensorFlow's call wrappers ('/layer1/conv' → ['layer1', 'conv']). */
export function scopeParts(name: string): string[] {
  const parts = name.split('/').filter((p) => p && !CALL_WRAPPER.test(p));
  return parts.length ? parts : [name];
}

/**
 * Each name's shown form among `names`, unique among them. A node torch.onnx.export scoped by module is
 * shown by its module path when it is that module's output (the last of `spatial` inside the module: what
 * the path selects, see `moduleOutputs`), else by the path and its node (`layer1.0/Add`); other names by
 * their shortest unique form of at least MIN_SCOPES trailing scopes (the name itself when it is short).
 */
export function shortLayerNames(names: readonly string[], spatial: readonly string[] = names): Map<string, string> {
  const torch = torchLabels(names, spatial);
  for (;;) {
    const scoped = scopeLabels(names.filter((n) => !torch.has(n)));
    // A module path that reads like another layer's shown or full name would select that one: keep its scopes.
    const taken = new Set([...scoped.values(), ...names]);
    const clashing = [...torch].filter(([, label]) => taken.has(label));
    if (!clashing.length) return new Map(names.map((n) => [n, torch.get(n) ?? scoped.get(n)!]));
    for (const [n] of clashing) torch.delete(n);
  }
}

/** Module paths as shown, for the torch-scoped names whose label is unique; the others are left out. */
function torchLabels(names: readonly string[], spatial: readonly string[]): Map<string, string> {
  const outputs = moduleOutputs(spatial);
  const labels = new Map<string, string>();
  for (const n of new Set(names)) {
    const path = torchModulePath(n);
    if (path !== undefined) labels.set(n, outputs.get(path) === n ? path : `${path}/${n.slice(n.lastIndexOf('/') + 1)}`);
  }
  const count = new Map<string, number>();
  for (const l of labels.values()) count.set(l, (count.get(l) ?? 0) + 1);
  for (const [n, l] of labels) if (count.get(l)! > 1) labels.delete(n);
  return labels;
}

function scopeLabels(names: readonly string[]): Map<string, string> {
  const parts = new Map(names.map((n) => [n, scopeParts(n)]));
  const short = new Map<string, string>();
  let pending = [...new Set(names)];
  for (let k = MIN_SCOPES; pending.length; k++) {
    const forms = new Map(pending.map((n) => [n, parts.get(n)!.slice(-k).join('/')]));
    const count = new Map<string, number>();
    for (const f of forms.values()) count.set(f, (count.get(f) ?? 0) + 1);
    for (const n of pending) {
      // A name with no more scopes than shown is itself (less its wrappers).
      if (parts.get(n)!.length <= k) short.set(n, n.split('/').length <= k ? n : forms.get(n)!);
      else if (count.get(forms.get(n)!) === 1) short.set(n, forms.get(n)!);
    }
    pending = pending.filter((n) => !short.has(n));
  }
  return short;
}

/** The full name a shown (short) name stands for, if exactly one layer shows that way (`spatial` as in shortLayerNames). */
export function fullLayerName(names: readonly string[], given: string, spatial: readonly string[] = names): string | undefined {
  if (names.includes(given)) return given;
  const matches = [...shortLayerNames(names, spatial)].filter(([, s]) => s === given).map(([n]) => n);
  return matches.length === 1 ? matches[0] : undefined;
}

/**
 * The PyTorch module path of a node named by torch.onnx.export, which scopes node names by module
 * (`/encoder/layers/encoder_layer_11/ln_1/LayerNormalization` → `encoder.layers.encoder_layer_11.ln_1`;
 * children of containers repeat their parent's name: `/layer4/layer4.1/conv2/Conv` → `layer4.1.conv2`).
 * Undefined for names without a module scope.
 */
export function torchModulePath(name: string): string | undefined {
  if (!name.startsWith('/')) return undefined;
  const scopes = name.split('/').slice(1, -1);
  if (!scopes.length || scopes.some((s) => !s)) return undefined;
  const path: string[] = [];
  for (const s of scopes) {
    if (path.length && s.startsWith(`${path[path.length - 1]}.`)) path[path.length - 1] = s;
    else path.push(s);
  }
  return path.join('.');
}

/**
 * Each PyTorch module path → the module's output among `spatial` (in graph order): the last node
 * inside the module or its children (`layer1.0` → `/layer1/layer1.0/relu_1/Relu`, after the Add).
 */
export function moduleOutputs(spatial: readonly string[]): Map<string, string> {
  const outputs = new Map<string, string>();
  for (const n of spatial) {
    const path = torchModulePath(n);
    if (path === undefined) continue;
    const parts = path.split('.');
    // Every enclosing path: `layer1.0.relu_1` is inside `layer1.0` and `layer1` (and `layer1.0.relu_1` itself).
    for (let k = 1; k <= parts.length; k++) outputs.set(parts.slice(0, k).join('.'), n);
  }
  return outputs;
}

/** The labels of the last spatial-layer list asked about: captions ask once per map and render, always for one model. */
let lastLabels: { key: string; labels: Map<string, string> } | undefined;

/** How a layer is shown among the model's spatial layers (the Grad-CAM layer picker's form). */
export function layerLabel(name: string, spatial: readonly string[]): string {
  const key = spatial.join('\n');
  if (lastLabels?.key !== key) lastLabels = { key, labels: shortLayerNames(spatial) };
  return lastLabels.labels.get(name) ?? shortLayerNames([...spatial, name], spatial).get(name) ?? name;
}
