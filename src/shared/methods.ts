/**
 * The method registry: the one place that says which attribution methods exist, what each attributes
 * to, its options (defaults and ranges), whether its map is signed, what it costs and where it comes
 * from. Engine, CLI flags, protocol, panel controls, settings enums and reports all derive from it;
 * the engine's implementations (src/engine/methods) are keyed by these names.
 */

export type MethodFamily = 'gradient' | 'cam' | 'perturbation' | 'attention';

export const FAMILIES: readonly { name: MethodFamily; label: string }[] = [
  { name: 'gradient', label: 'Gradient' },
  { name: 'cam', label: 'Class activation (CAM)' },
  { name: 'perturbation', label: 'Perturbation (model-agnostic)' },
  { name: 'attention', label: 'Attention (vision transformers)' },
];

export type OptionValue = number | string | boolean;

interface OptionBase {
  name: string;
  label: string;
  help: string;
}

export interface NumberOption extends OptionBase {
  kind: 'number';
  default: number;
  min: number;
  max: number;
  /** Whole numbers only (sample counts, steps, pixels). */
  integer?: boolean;
}

export interface ChoiceOption extends OptionBase {
  kind: 'choice';
  default: string;
  choices: readonly { value: string; label: string }[];
}

export interface BooleanOption extends OptionBase {
  kind: 'boolean';
  default: boolean;
}

/** A colour as #rrggbb. */
export interface ColorOption extends OptionBase {
  kind: 'color';
  default: string;
}

/** Layer names, comma-separated; empty = the layer chosen for the map. */
export interface LayersOption extends OptionBase {
  kind: 'layers';
  default: string;
}

export type OptionSpec = NumberOption | ChoiceOption | BooleanOption | ColorOption | LayersOption;

export interface MethodSpec {
  /** Registry name: CLI `--method`, file suffix, settings value, protocol field. */
  name: string;
  label: string;
  family: MethodFamily;
  /** What the map attributes to: input pixels, or a spatial layer's positions (upsampled for display). */
  target: 'input' | 'layer';
  /** 'option': signed when its `signed` option is on. */
  signed: boolean | 'option';
  /** What one map costs in model passes, given the options, e.g. "1 forward + 1 backward", "50 forward + 50 backward". */
  cost(options: Readonly<Record<string, OptionValue>>): string;
  /** The only runtime that can compute it (ModelInfo's backend name); omitted = any runtime. */
  runtime?: 'onnxruntime';
  /** Reads the attention of every block: only models with full attention over the patch tokens (ModelInfo's `attentionBlocks`). */
  needsAttention?: true;
  /**
   * A CAM whose channel weights pool the gradient over every position (Grad-CAM's α): on a vision transformer's
   * token layer they often light background tokens, which the engine says in a note.
   */
  poolsGradient?: true;
  /** What the map shows, in one line (README table, panel tooltip). */
  shows: string;
  /** When to reach for it, in one line. */
  use: string;
  /** The paper that defines it. */
  paper: string;
  options: readonly OptionSpec[];
}

const seedOption: NumberOption = {
  name: 'seed', label: 'Random seed', kind: 'number', default: 0, min: 0, max: 2 ** 31 - 1, integer: true,
  help: 'The same seed gives the same map',
};

const signedOption: BooleanOption = {
  name: 'signed', label: 'Keep sign', kind: 'boolean', default: false,
  help: 'Per pixel, the channel value with the largest magnitude, sign included (red for, blue against)',
};

const samplesOption = (def: number, max: number, help: string): NumberOption => ({
  name: 'samples', label: 'Samples', kind: 'number', default: def, min: 1, max, integer: true, help,
});

const noiseOptions: readonly OptionSpec[] = [
  samplesOption(25, 1000, 'Noisy copies averaged (each one forward and one backward pass, batched)'),
  {
    name: 'sigma', label: 'Noise σ', kind: 'number', default: 0.15, min: 0, max: 1,
    help: 'Standard deviation of the Gaussian noise, as a fraction of the input\'s value range (Smilkov et al.: 0.1–0.2)',
  },
  seedOption,
];

const baselineOption = (choices: readonly string[], def: string): ChoiceOption => ({
  name: 'baseline', label: 'Baseline', kind: 'choice', default: def,
  choices: choices.map((value) => ({ value, label: BASELINE_LABELS[value] ?? value })),
  help: 'What a removed pixel is replaced with',
});

const BASELINE_LABELS: Record<string, string> = {
  black: 'black (zero pixels)', blur: 'blurred image', noise: 'uniform noise', color: 'a colour', mean: 'image mean',
};

const colorOption: ColorOption = {
  name: 'color', label: 'Baseline colour', kind: 'color', default: '#000000', help: 'The baseline colour when Baseline is "a colour"',
};

const superpixelOptions: readonly OptionSpec[] = [
  {
    name: 'segments', label: 'Superpixels', kind: 'number', default: 50, min: 4, max: 400, integer: true,
    help: 'About this many SLIC superpixels are switched on and off',
  },
  baselineOption(['mean', 'black', 'blur'], 'mean'),
];

const count = (options: Readonly<Record<string, OptionValue>>, name: string) => Number(options[name]);
const both = (n: number) => `${n} forward + ${n} backward`;

export const METHODS = [
  {
    name: 'saliency', label: 'Saliency', family: 'gradient', target: 'input', signed: 'option',
    cost: () => '1 forward + 1 backward',
    shows: 'Where a small change of a pixel changes the class logit most: |∂S_c/∂x|, max over colour channels',
    use: 'The fastest first look; noisy on real photos',
    paper: 'Simonyan, Vedaldi & Zisserman 2014, "Deep Inside Convolutional Networks"',
    options: [signedOption],
  },
  {
    name: 'gradxinput', label: 'Gradient × Input', family: 'gradient', target: 'input', signed: true,
    cost: () => '1 forward + 1 backward',
    shows: 'Each pixel\'s first-order contribution to the logit: x ⊙ ∂S_c/∂x, summed over channels',
    use: 'Signed evidence for and against, exact for linear models',
    paper: 'Shrikumar et al. 2016, "Not Just a Black Box"',
    options: [],
  },
  {
    name: 'smoothgrad', label: 'SmoothGrad', family: 'gradient', target: 'input', signed: 'option',
    cost: (o) => both(count(o, 'samples')),
    shows: 'Saliency averaged over noisy copies of the image: the gradient\'s stable part',
    use: 'Saliency that is readable on real photos',
    paper: 'Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise"',
    options: [...noiseOptions, signedOption],
  },
  {
    name: 'smoothgrad-sq', label: 'SmoothGrad²', family: 'gradient', target: 'input', signed: false,
    cost: (o) => both(count(o, 'samples')),
    shows: 'The mean squared gradient over noisy copies',
    use: 'Like SmoothGrad, favouring consistently strong pixels',
    paper: 'Hooker et al. 2019, "A Benchmark for Interpretability Methods in Deep Neural Networks"',
    options: noiseOptions,
  },
  {
    name: 'vargrad', label: 'VarGrad', family: 'gradient', target: 'input', signed: false,
    cost: (o) => both(count(o, 'samples')),
    shows: 'The variance of the gradient over noisy copies',
    use: 'Where the model\'s sensitivity itself is unstable',
    paper: 'Adebayo et al. 2018, "Local Explanation Methods for Deep Neural Networks Lack Sensitivity to Parameter Values"',
    options: noiseOptions,
  },
  {
    name: 'ig', label: 'Integrated Gradients', family: 'gradient', target: 'input', signed: true,
    cost: (o) => `${both(count(o, 'steps'))} + 1 forward`,
    shows: 'Each pixel\'s share of S_c(x) − S_c(baseline), integrating gradients along the path from the baseline',
    use: 'Attributions that add up to the logit change (completeness); choose the baseline with care',
    paper: 'Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks"',
    options: [
      { name: 'steps', label: 'Steps', kind: 'number', default: 32, min: 1, max: 1024, integer: true, help: 'Points on the path (one batched pass each)' },
      {
        name: 'rule', label: 'Integration rule', kind: 'choice', default: 'gausslegendre',
        choices: [
          { value: 'riemann', label: 'Riemann (midpoints)' },
          { value: 'trapezoid', label: 'trapezoid' },
          { value: 'gausslegendre', label: 'Gauss–Legendre' },
        ],
        help: 'How the path integral is approximated (Captum\'s default is Gauss–Legendre)',
      },
      baselineOption(['black', 'blur', 'noise', 'color'], 'black'),
      colorOption,
      seedOption,
    ],
  },
  {
    name: 'guided-backprop', label: 'Guided Backprop', family: 'gradient', target: 'input', signed: 'option',
    // Changes the ReLUs' backward rule, which only our ONNX backward graphs can.
    runtime: 'onnxruntime',
    cost: () => '1 forward + 1 backward',
    shows: 'The gradient with only positive signals passed back through each ReLU: fine edges the class responds to',
    use: 'Sharp detail; not class-discriminative on its own (combine with Grad-CAM)',
    paper: 'Springenberg et al. 2015, "Striving for Simplicity: The All Convolutional Net"',
    options: [signedOption],
  },
  {
    name: 'gradcam', label: 'Grad-CAM', family: 'cam', target: 'layer', signed: false,
    poolsGradient: true,
    cost: () => '1 forward + 1 backward',
    shows: 'ReLU(Σ_k α_k A^k) with α_k the mean gradient of channel k: where the layer sees evidence for the class',
    use: 'The standard coarse, class-discriminative map',
    paper: 'Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization"',
    options: [],
  },
  {
    name: 'guided-gradcam', label: 'Guided Grad-CAM', family: 'cam', target: 'layer', signed: 'option',
    poolsGradient: true,
    // Changes the ReLUs' backward rule, which only our ONNX backward graphs can.
    runtime: 'onnxruntime',
    cost: () => '1 forward + 2 backward',
    shows: 'Guided Backprop masked by the upsampled Grad-CAM: fine detail inside the class\'s region',
    use: 'High-resolution, class-discriminative detail',
    paper: 'Selvaraju et al. 2017, "Grad-CAM" (section 3.2)',
    options: [signedOption],
  },
  {
    name: 'gradcam++', label: 'Grad-CAM++', family: 'cam', target: 'layer', signed: false,
    poolsGradient: true,
    cost: () => '1 forward + 1 backward',
    shows: 'Grad-CAM with pixel-wise weights from higher-order terms: covers several instances of the class better',
    use: 'Several objects of the class, or a whole object rather than its most telling part',
    paper: 'Chattopadhyay et al. 2018, "Grad-CAM++"',
    options: [],
  },
  {
    name: 'xgradcam', label: 'XGrad-CAM', family: 'cam', target: 'layer', signed: false,
    poolsGradient: true,
    cost: () => '1 forward + 1 backward',
    shows: 'Grad-CAM with channel weights Σ(A·∂S/∂A)/ΣA, chosen to satisfy sensitivity and conservation axioms',
    use: 'A Grad-CAM variant with a principled channel weighting',
    paper: 'Fu et al. 2020, "Axiom-based Grad-CAM"',
    options: [],
  },
  {
    name: 'hirescam', label: 'HiResCAM', family: 'cam', target: 'layer', signed: false,
    cost: () => '1 forward + 1 backward',
    shows: 'ReLU(Σ_k ∂S/∂A^k ⊙ A^k): the gradient times activation at each position, not averaged',
    use: 'Faithful to where the model looks (provably for CNNs ending in one linear layer)',
    paper: 'Draelos & Carin 2020, "Use HiResCAM instead of Grad-CAM for faithful explanations"',
    options: [],
  },
  {
    name: 'layercam', label: 'LayerCAM', family: 'cam', target: 'layer', signed: false,
    cost: () => '1 forward + 1 backward',
    shows: 'ReLU(Σ_k ReLU(∂S/∂A^k) ⊙ A^k), optionally fused across several layers',
    use: 'Finer maps from earlier layers; fuse several for detail and context',
    paper: 'Jiang et al. 2021, "LayerCAM: Exploring Hierarchical Class Activation Maps for Localization"',
    options: [
      { name: 'layers', label: 'Fuse layers', kind: 'layers', default: '', help: 'More spatial layers to fuse with the chosen one (comma-separated); each map is scaled to a peak of 1, upsampled to the largest, and the maximum kept' },
    ],
  },
  {
    name: 'eigencam', label: 'Eigen-CAM', family: 'cam', target: 'layer', signed: false,
    cost: () => '1 forward',
    shows: 'The first principal component of the layer\'s activations (each channel centred): its dominant pattern, class-independent',
    use: 'Where the model attends at all, without gradients; the same for every class',
    paper: 'Muhammad & Yeasin 2020, "Eigen-CAM: Class Activation Map using Principal Components"',
    options: [],
  },
  {
    name: 'scorecam', label: 'Score-CAM', family: 'cam', target: 'layer', signed: false,
    cost: (o) => `1 forward + ${count(o, 'maxChannels') || 'one per channel of the layer'} forward`,
    shows: 'Channels weighted by the class logit of the image masked by each channel\'s upsampled map (softmax over the channels)',
    use: 'A CAM without gradients; robust where gradients saturate; one forward pass per channel',
    paper: 'Wang et al. 2020, "Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks"',
    options: [
      { name: 'maxChannels', label: 'Channels', kind: 'number', default: 0, min: 0, max: 4096, integer: true, help: '0 = every channel; else only the most active ones (the rest weigh 0)' },
      { name: 'batch', label: 'Batch size', kind: 'number', default: 32, min: 1, max: 64, integer: true, help: 'Masked images per forward pass (fewer for large inputs, to bound memory)' },
    ],
  },
  {
    name: 'occlusion', label: 'Occlusion', family: 'perturbation', target: 'input', signed: true,
    // The automatic window (an eighth of the side, stride half of it) makes about 15 positions per side at any size.
    cost: (o) => (count(o, 'window') || count(o, 'stride') ? '1 forward per window position, + 1' : '226 forward (15 × 15 window positions + 1, at the automatic window)'),
    shows: 'How much the class logit (S_a − S_b for a contrast) drops when a window around each pixel is replaced by the baseline, averaged over the windows covering it',
    use: 'Model-agnostic and easy to trust; cost grows with image size over stride²',
    paper: 'Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional Networks"',
    options: [
      { name: 'window', label: 'Window (px)', kind: 'number', default: 0, min: 0, max: 512, integer: true, help: 'Side of the occluding square in model-input pixels; 0 = one eighth of the shorter side' },
      { name: 'stride', label: 'Stride (px)', kind: 'number', default: 0, min: 0, max: 512, integer: true, help: 'Step between windows; 0 = half the window' },
      baselineOption(['black', 'blur', 'mean'], 'black'),
    ],
  },
  {
    name: 'rise', label: 'RISE', family: 'perturbation', target: 'input', signed: false,
    cost: (o) => `${count(o, 'masks')} forward`,
    shows: 'The class probability (S_a − S_b for a contrast) averaged over random masks, weighted by where each mask kept the image',
    use: 'Model-agnostic map of what the probability depends on; needs many masks',
    paper: 'Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for Explanation of Black-box Models"',
    options: [
      { name: 'masks', label: 'Masks', kind: 'number', default: 4000, min: 1, max: 20000, integer: true, help: 'Random masks (one forward pass each, batched)' },
      { name: 'grid', label: 'Grid', kind: 'number', default: 7, min: 2, max: 64, integer: true, help: 'Cells per side of the low-resolution mask before upsampling' },
      { name: 'keep', label: 'Keep probability', kind: 'number', default: 0.5, min: 0.01, max: 0.99, help: 'Chance that a cell keeps the image' },
      seedOption,
    ],
  },
  {
    name: 'lime', label: 'LIME', family: 'perturbation', target: 'input', signed: true,
    cost: (o) => `${count(o, 'samples')} forward`,
    shows: 'Weights of a local linear model of the class probability (S_a − S_b for a contrast) over superpixels switched on and off',
    use: 'Model-agnostic, region-level evidence for and against',
    paper: 'Ribeiro, Singh & Guestrin 2016, "Why Should I Trust You?"',
    options: [
      samplesOption(150, 5000, 'Perturbed images (one forward pass each, batched)'),
      ...superpixelOptions,
      { name: 'kernelWidth', label: 'Kernel width', kind: 'number', default: 0.25, min: 0.01, max: 10, help: 'Width w of lime\'s sample weight √exp(−d²/w²), d the cosine distance to the full image' },
      seedOption,
    ],
  },
  {
    name: 'kernelshap', label: 'Kernel SHAP', family: 'perturbation', target: 'input', signed: true,
    cost: (o) => `${count(o, 'samples') + 2} forward at most`,
    shows: 'Shapley values of superpixels for the class probability (S_a − S_b for a contrast), estimated with the Shapley kernel; they add up to P(x) − P(baseline)',
    use: 'Model-agnostic, region shares that add up to the probability change',
    paper: 'Lundberg & Lee 2017, "A Unified Approach to Interpreting Model Predictions"',
    options: [
      samplesOption(800, 10000, 'Coalitions evaluated (one forward pass each, batched); all of them, for exact Shapley values, when 2^superpixels − 2 ≤ samples'),
      ...superpixelOptions,
      seedOption,
    ],
  },
  {
    name: 'rollout', label: 'Attention rollout', family: 'attention', target: 'input', signed: false,
    // Reads the attention probabilities inside the graph, which only our ONNX sessions hand out.
    runtime: 'onnxruntime',
    needsAttention: true,
    cost: () => '1 forward',
    shows: 'How much of the class token\'s final representation flows from each image patch through every block\'s attention (heads fused, residual added, blocks multiplied); the same map for every class',
    use: 'Vision transformers: where the model gathers information from, not what speaks for a class',
    paper: 'Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"',
    options: [
      {
        name: 'headFusion', label: 'Head fusion', kind: 'choice', default: 'mean',
        choices: [
          { value: 'mean', label: 'mean (the paper)' },
          { value: 'max', label: 'max' },
          { value: 'min', label: 'min' },
        ],
        help: 'How each block\'s attention heads become one matrix (jacobgil/vit-explain offers all three; max with a high discard ratio gives sharper maps)',
      },
      {
        name: 'discardRatio', label: 'Discard ratio', kind: 'number', default: 0, min: 0, max: 0.99,
        help: 'Fraction of each block\'s fused attention weights, the lowest, set to zero before the blocks are multiplied (vit-explain; 0 = the paper\'s rollout)',
      },
    ],
  },
  {
    name: 'grad-rollout', label: 'Gradient-weighted rollout', family: 'attention', target: 'input', signed: false,
    // Reads the attention probabilities and their gradients inside the graph: only our ONNX sessions hand them out.
    runtime: 'onnxruntime',
    needsAttention: true,
    cost: () => '1 forward + 1 backward',
    shows: 'Relevance of each image patch to the class token, propagated through every block\'s attention weighted by the class\'s gradient (heads averaged over their positive gradient × attention, accumulated with the residual); class-specific',
    use: 'Vision transformers: where the evidence for this class is (rollout shows where information flows, for every class alike)',
    paper: 'Chefer, Gur & Wolf 2021, "Generic Attention-model Explainability for Interpreting Bi-Modal and Encoder-Decoder Transformers"',
    options: [],
  },
] as const satisfies readonly MethodSpec[];

export type MethodName = (typeof METHODS)[number]['name'];

export const METHOD_NAMES: readonly MethodName[] = METHODS.map((m) => m.name);

/** What a bare explain computes, and what the panel shows first. */
export const DEFAULT_METHODS: readonly MethodName[] = ['saliency', 'gradcam'];

export type MethodOptions = Record<string, OptionValue>;

/** A method and its options, as requested (options may be partial) or resolved (every option set). */
export interface MethodCall {
  name: MethodName;
  options?: MethodOptions;
}

export function isMethodName(name: string): name is MethodName {
  return (METHOD_NAMES as readonly string[]).includes(name);
}

export function methodSpec(name: MethodName): MethodSpec {
  return METHODS.find((m) => m.name === name)!;
}

/** The spec of a name given by a user, or a sentence listing the names there are. */
export function findMethod(name: string): MethodSpec {
  if (isMethodName(name)) return methodSpec(name);
  throw new RangeError(`unknown method "${name}"; methods: ${METHOD_NAMES.join(', ')}`);
}

/** Whether a method's map, with these options, is signed. */
/**
 * Whether a map costs one forward pass (and backward passes from it), as its `cost` says: such maps come from the
 * shared pass at once, and the panel asks for them apart from methods that run many inputs, which would hold them back.
 */
export function isSinglePass(spec: MethodSpec, options: Readonly<MethodOptions>): boolean {
  return /^1 forward( \+ \d+ backward)?$/.test(spec.cost(options));
}

export function isSigned(spec: MethodSpec, options: Readonly<MethodOptions>): boolean {
  return spec.signed === 'option' ? options.signed === true : spec.signed;
}

/**
 * Every option of a method set, from the defaults and what was given. Throws a RangeError naming the
 * method and option for an unknown option or a value of the wrong kind or out of range.
 */
export function resolveOptions(spec: MethodSpec, given: Readonly<MethodOptions> = {}): MethodOptions {
  const out: MethodOptions = {};
  for (const name of Object.keys(given)) {
    if (!spec.options.some((o) => o.name === name)) {
      const known = spec.options.map((o) => o.name);
      throw new RangeError(`${spec.name} has no option "${name}"${known.length ? `; its options: ${known.join(', ')}` : ' (it takes none)'}`);
    }
  }
  for (const o of spec.options) {
    const value = given[o.name];
    out[o.name] = value === undefined ? o.default : checkOption(spec, o, value);
  }
  return out;
}

function checkOption(spec: MethodSpec, o: OptionSpec, value: OptionValue): OptionValue {
  const where = `${spec.name} option "${o.name}"`;
  switch (o.kind) {
    case 'number': {
      const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) throw new RangeError(`${where} takes a number, not ${JSON.stringify(value)}`);
      if (o.integer && !Number.isInteger(n)) throw new RangeError(`${where} takes a whole number, not ${n}`);
      if (n < o.min || n > o.max) throw new RangeError(`${where} is ${n}; it takes ${o.min} to ${o.max}`);
      return n;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return value;
      if (value === 'true' || value === 'false') return value === 'true';
      throw new RangeError(`${where} takes true or false, not ${JSON.stringify(value)}`);
    }
    case 'choice': {
      if (typeof value === 'string' && o.choices.some((c) => c.value === value)) return value;
      throw new RangeError(`${where} takes one of ${o.choices.map((c) => c.value).join(', ')}, not ${JSON.stringify(value)}`);
    }
    case 'color': {
      if (typeof value === 'string' && /^#[0-9a-f]{6}$/i.test(value)) return value.toLowerCase();
      throw new RangeError(`${where} takes a colour as #rrggbb, not ${JSON.stringify(value)}`);
    }
    case 'layers': {
      if (typeof value === 'string' && value.length <= 4096) return value.split(',').map((s) => s.trim()).filter(Boolean).join(',');
      throw new RangeError(`${where} takes layer names separated by commas`);
    }
  }
}

/** A stable text of a method call with every option, for cache keys and file names. */
export function methodKey(name: MethodName, options: Readonly<MethodOptions>): string {
  const spec = methodSpec(name);
  const resolved = resolveOptions(spec, options);
  return `${name}(${spec.options.map((o) => `${o.name}=${resolved[o.name]}`).join(',')})`;
}
