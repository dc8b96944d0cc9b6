import { fileError } from '../../errors';
import { H5Group, Hdf5File, isDataset } from './hdf5';
import type { Leaf } from './translate';
import type { SourceWeight, WeightSource } from './weightSource';

/**
 * Weights of an `.h5` model file (Keras 2 / tf.keras, or Keras 3's legacy writer): group `model_weights`
 * with one group per top-level layer, whose `weight_names` attribute lists datasets such as
 * `conv2d/kernel:0` (Keras 3: `conv2d/kernel`). A nested model's group holds all its layers' weights,
 * named `…/inner_layer/weight`: they are grouped by that inner layer name.
 */
export class LegacyWeights implements WeightSource {
  readonly where = 'model_weights';
  private index?: Map<string, SourceWeight[]>;

  constructor(private readonly h5: Hdf5File, private readonly group: H5Group, private readonly leafNames: ReadonlySet<string>) {}

  weightsOf(layerName: string, _leaf: Leaf): SourceWeight[] | undefined {
    this.index ??= this.build();
    return this.index.get(layerName);
  }

  private build(): Map<string, SourceWeight[]> {
    const index = new Map<string, SourceWeight[]>();
    const layerNames = this.h5.stringListAttr(this.group, 'layer_names') ?? this.h5.keys(this.group);
    for (const top of layerNames) {
      const g = this.h5.group(this.group, top);
      if (!g) throw fileError(this.h5.file, `lists layer "${top}" in model_weights but has no weights group for it`);
      const names = this.h5.stringListAttr(g, 'weight_names') ?? [];
      for (const wname of names) {
        const ds = this.h5.child(g, wname);
        if (!ds || !isDataset(ds)) throw fileError(this.h5.file, `lists weight "${wname}" of layer "${top}" but does not hold it`);
        const parts = wname.replace(/:\d+$/, '').split('/');
        const variable = parts[parts.length - 1];
        // A top-level layer owns its weights whatever scope they were named in; a nested model's are
        // named after its inner layers.
        const owner = this.leafNames.has(top) || parts.length < 2 ? top : parts[parts.length - 2];
        const shape = this.h5.guard(wname, () => ds.shape);
        const what = `"${top}/${wname}"`;
        const list = index.get(owner) ?? [];
        list.push({ name: variable, shape: Array.isArray(shape) ? shape : [], read: () => this.h5.readFloat32(ds, what).data });
        index.set(owner, list);
      }
    }
    return index;
  }
}
