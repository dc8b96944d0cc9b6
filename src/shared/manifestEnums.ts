/**
 * The settings in package.json whose values come from the method registry: written there by
 * scripts/manifest/sync.ts and checked by a test, so the manifest cannot drift from the registry.
 */
import { METHODS, MethodSpec } from './methods';

export interface ManifestEnum {
  /** Path inside contributes.configuration.properties, e.g. ['saliencyLens.defaultView']. */
  path: string[];
  values: string[];
  descriptions: string[];
}

const specs = METHODS as readonly MethodSpec[];
const describe = (m: MethodSpec) => `${m.label}: ${m.shows}`;

export function manifestEnums(): ManifestEnum[] {
  return [
    {
      path: ['saliencyLens.defaultView'],
      values: ['side-by-side', ...specs.map((m) => m.name)],
      descriptions: ['Saliency and Grad-CAM side by side.', ...specs.map(describe)],
    },
    {
      path: ['saliencyLens.reportMethods', 'items'],
      values: specs.map((m) => m.name),
      descriptions: specs.map(describe),
    },
  ];
}
