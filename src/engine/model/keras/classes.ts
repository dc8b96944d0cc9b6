/**
 * Which Keras classes a model file may name, and what becomes of each. Model files are data: a class
 * outside these tables is custom Python code, and is refused by name, never looked up or run.
 */

/** Keras layer classes that tfjs-layers 4.22 deserializes and runs as Keras does (same config keys). */
export const TFJS_LAYERS: ReadonlySet<string> = new Set([
  'InputLayer', 'Dense', 'Activation', 'ReLU', 'LeakyReLU', 'PReLU', 'ELU', 'Softmax', 'ThresholdedReLU',
  'Conv1D', 'Conv2D', 'Conv2DTranspose', 'DepthwiseConv2D', 'SeparableConv2D', 'Conv3D',
  'BatchNormalization', 'LayerNormalization',
  'MaxPooling1D', 'MaxPooling2D', 'MaxPooling3D', 'AveragePooling1D', 'AveragePooling2D', 'AveragePooling3D',
  'GlobalAveragePooling1D', 'GlobalAveragePooling2D', 'GlobalMaxPooling1D', 'GlobalMaxPooling2D',
  'ZeroPadding2D', 'Cropping2D', 'UpSampling2D', 'Flatten', 'Reshape', 'Permute', 'RepeatVector',
  'Add', 'Multiply', 'Average', 'Maximum', 'Minimum', 'Concatenate', 'Dot',
  'Dropout', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Masking',
  'Rescaling', 'Embedding',
]);

/** Model containers (their layers are translated one by one). */
export const CONTAINERS: ReadonlySet<string> = new Set(['Functional', 'Model', 'Sequential']);

/**
 * Layers that are identities at inference and that tfjs lacks: dropped from the translated model
 * (their consumers read their input). Keras's image augmentation layers only act when training=True.
 */
export const INFERENCE_IDENTITIES: ReadonlySet<string> = new Set([
  'RandomFlip', 'RandomRotation', 'RandomZoom', 'RandomContrast', 'RandomTranslation', 'RandomBrightness',
  'RandomHeight', 'RandomWidth', 'RandomGrayscale', 'RandomHue', 'RandomSaturation', 'RandomSharpness',
  'RandomShear', 'RandomColorJitter', 'RandomColorDegeneration', 'RandomPosterization', 'RandomInvert',
  'RandomErasing', 'RandomGaussianBlur', 'RandomElasticTransform', 'RandomPerspective', 'Solarization',
  'AugMix', 'CutMix', 'MixUp', 'RandAugment', 'Identity', 'ActivityRegularization',
  'SpatialDropout2D', 'SpatialDropout3D',
]);

/** Built-in Keras layers that change pixels elementwise: a Resizing after them can move to the input. */
export const POINTWISE: ReadonlySet<string> = new Set(['Rescaling', 'Normalization']);

/**
 * Every other built-in Keras layer (Keras 2 and 3): known, not custom code, but not runnable here.
 * Naming them apart from custom classes tells the user that the refusal is a limit, not a danger.
 */
export const KERAS_BUILTINS_UNSUPPORTED: ReadonlySet<string> = new Set([
  'Subtract', 'Conv1DTranspose', 'Conv3DTranspose', 'DepthwiseConv1D', 'SeparableConv1D', 'EinsumDense',
  'Cropping1D', 'Cropping3D', 'ZeroPadding1D', 'ZeroPadding3D', 'UpSampling1D', 'UpSampling3D',
  'GlobalAveragePooling3D', 'GlobalMaxPooling3D', 'AdaptiveAveragePooling1D', 'AdaptiveAveragePooling2D',
  'AdaptiveAveragePooling3D', 'AdaptiveMaxPooling1D', 'AdaptiveMaxPooling2D', 'AdaptiveMaxPooling3D',
  'GroupNormalization', 'UnitNormalization', 'RMSNormalization', 'SpectralNormalization',
  'MultiHeadAttention', 'GroupedQueryAttention', 'Attention', 'AdditiveAttention',
  'LSTM', 'GRU', 'SimpleRNN', 'RNN', 'ConvLSTM1D', 'ConvLSTM2D', 'ConvLSTM3D', 'Bidirectional', 'TimeDistributed',
  'CategoryEncoding', 'Discretization', 'HashedCrossing', 'Hashing', 'IntegerLookup', 'StringLookup',
  'TextVectorization', 'MelSpectrogram', 'STFTSpectrogram', 'Pipeline', 'AutoContrast', 'Equalization', 'CLAHE',
  'ReversibleEmbedding', 'TernaryDense', 'Wrapper', 'TFSMLayer', 'TorchModuleWrapper', 'JaxLayer', 'FlaxLayer',
  'RandomCrop', 'CenterCrop', 'Resizing', 'Normalization',
]);

/** Classes that run Python code stored in (or named by) the file. */
export const CODE_LAYERS: ReadonlySet<string> = new Set(['Lambda', 'TFOpLambda', 'SlicingOpLambda']);

/** Keras activation names → tfjs's (Keras 3 `silu` is tfjs `swish`); absent: not runnable. */
const ACTIVATIONS: Record<string, string> = {
  linear: 'linear', relu: 'relu', relu6: 'relu6', sigmoid: 'sigmoid', tanh: 'tanh', softmax: 'softmax',
  elu: 'elu', selu: 'selu', softplus: 'softplus', softsign: 'softsign', swish: 'swish', silu: 'swish',
  gelu: 'gelu', mish: 'mish',
};

/**
 * The tfjs name of a built-in activation, or undefined. Keras 2's hard_sigmoid (0.2x + 0.5) is tfjs's;
 * Keras 3's is relu6(x + 3) / 6, which tfjs has not.
 */
export function tfjsActivation(name: string, kerasMajor: number): string | undefined {
  if (name === 'hard_sigmoid') return kerasMajor < 3 ? 'hard_sigmoid' : undefined;
  return ACTIVATIONS[name];
}

/** Keras 3 `module` values of built-in objects: "keras", "keras.layers", "keras.src.models.functional", … */
export function isKerasModule(module: unknown): boolean {
  return module === undefined || module === null ? true : typeof module === 'string' && (module === 'keras' || module.startsWith('keras.'));
}
