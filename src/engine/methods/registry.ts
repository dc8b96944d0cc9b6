import { MethodName, METHOD_NAMES } from '../../shared/methods';
import { eigencam } from './eigencam';
import { gradcam } from './gradcam';
import { guidedBackprop, guidedGradcam } from './guided';
import { gradcamPlusPlus } from './gradcamPlusPlus';
import { hirescam } from './hirescam';
import { layercam } from './layercam';
import { scorecam } from './scorecam';
import { xgradcam } from './xgradcam';
import { gradxinput } from './gradXInput';
import { ig } from './integratedGradients';
import { smoothgrad, smoothgradSq, vargrad } from './noiseTunnel';
import { saliency } from './saliency';
import { occlusionMethod } from './occlusion';
import { riseMethod } from './rise';
import { limeMethod } from './lime';
import { kernelShapMethod } from './kernelShap';
import { attentionRollout, gradientRollout } from './attentionRollout';
import type { AttributionMethod } from './types';

/** The engine's implementation of every method in the registry (src/shared/methods.ts), by name. */
const IMPLEMENTATIONS: Partial<Record<MethodName, AttributionMethod>> = {
  saliency,
  gradcam,
  'guided-backprop': guidedBackprop,
  'guided-gradcam': guidedGradcam,
  'gradcam++': gradcamPlusPlus,
  xgradcam,
  hirescam,
  layercam,
  eigencam,
  scorecam,
  gradxinput,
  smoothgrad,
  'smoothgrad-sq': smoothgradSq,
  vargrad,
  ig,
  occlusion: occlusionMethod,
  rise: riseMethod,
  lime: limeMethod,
  kernelshap: kernelShapMethod,
  rollout: attentionRollout,
  'grad-rollout': gradientRollout,
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
