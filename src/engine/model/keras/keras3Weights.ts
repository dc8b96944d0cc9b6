import { H5Group, Hdf5File, isDataset } from './hdf5';
import type { Leaf } from './translate';
import type { SourceWeight, WeightSource } from './weightSource';

/**
 * Weights of a Keras 3 `.keras` archive's model.weights.h5: one group per layer along the object tree
 * (`layers/conv2d/vars`, nested: `layers/functional/layers/conv2d/vars`), datasets `0`, `1`, … in the
 * layer's order (trainable variables, then the others). Since Keras 3.6 each `vars` group also records
 * its layer's name, which wins when the path and the name disagree.
 */
export class Keras3Weights implements WeightSource {
  readonly where = 'model.weights.h5';
  private byName?: Map<string, H5Group>;

  constructor(private readonly h5: Hdf5File) {}

  weightsOf(layerName: string, leaf: Leaf): SourceWeight[] | undefined {
    let vars = this.h5.group(this.h5.root, `${leaf.path}/vars`);
    const recorded = vars ? this.h5.attrs(vars).name : undefined;
    if (!vars || (typeof recorded === 'string' && recorded !== layerName)) vars = this.named(layerName) ?? vars;
    if (!vars) return undefined;
    const keys = this.h5.keys(vars).filter((k) => /^\d+$/.test(k)).sort((a, b) => Number(a) - Number(b));
    return keys.map((k) => {
      const ds = this.h5.child(vars!, k);
      const what = `"${vars!.name}/${k}"`;
      if (!ds || !isDataset(ds)) return { shape: [-1], read: () => new Float32Array(0) };
      const shape = this.h5.guard(what, () => ds.shape);
      return { shape: Array.isArray(shape) ? shape : [], read: () => this.h5.readFloat32(ds, what).data };
    });
  }

  /** The `vars` group whose `name` attribute is the layer's (Keras ≥ 3.6), searching a bounded tree. */
  private named(layerName: string): H5Group | undefined {
    if (!this.byName) {
      this.byName = new Map();
      const seen = new Set<string>();
      let budget = 100_000;
      const walk = (g: H5Group, depth: number): void => {
        if (depth > 32 || seen.has(g.name) || --budget < 0) return;
        seen.add(g.name);
        for (const k of this.h5.keys(g)) {
          const c = this.h5.group(g, k);
          if (!c) continue;
          if (k === 'vars') {
            const n = this.h5.attrs(c).name;
            if (typeof n === 'string' && !this.byName!.has(n)) this.byName!.set(n, c);
          } else walk(c, depth + 1);
        }
      };
      const layers = this.h5.group(this.h5.root, 'layers');
      if (layers) walk(layers, 0);
    }
    return this.byName.get(layerName);
  }
}
