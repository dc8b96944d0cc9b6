import { MethodName, METHOD_NAMES } from '../../shared/methods';
import { gradcam } from './gradcam';
import { gradxinput } from './gradXInput';
import { ig } from './integratedGradients';
import { smoothgrad, smoothgradSq, vargrad } from './noiseTunnel';
import { saliency } from './saliency';
import type { AttributionMethod } from './types';

/** The engine's implementation of every method in the registry (src/shared/methods.ts), by name. */
const IMPLEMENTATIONS: Partial<Record<MethodName, AttributionMethod>> = {
  saliency,
  gradcam,
  gradxinput,
  smoothgrad,
  'smoothgrad-sq': smoothgradSq,
  vargrad,
  ig,
};

export function implementationOf(name: MethodName): AttributionMethod {
  const impl = IMPLEMENTATIONS[name];
  if (!impl) throw new Error(`method "${name}" has no implementation`);
  return impl;
}

/** Registry names without an implementation (a test keeps this empty). */
export function unimplementedMethods(): MethodName[] {
  return METHOD_NAMES.filter((n) => !IMPLEMENTATIONS[n]);
}
