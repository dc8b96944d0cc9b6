import * as tf from '@tensorflow/tfjs';

/**
 * Kernels tfjs-backend-wasm 4.22 lacks but gradients of real models need (DESIGN.md §4):
 * the filter gradients of fused convolutions that tf.grad computes even when unused, the
 * depthwise gradients, and UnsortedSegmentSum (gradient of gather). Each borrows the cpu
 * backend's kernel: inputs are copied out of the wasm heap, run on cpu, and copied back.
 * Slow for big tensors but exact; the layers runtime avoids these kernels on its fast path.
 */
export const BORROWED_KERNELS = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'UnsortedSegmentSum',
] as const;

/**
 * Kernels tfjs-backend-wasm 4.22 has but computes wrongly, replaced by the cpu backend's: MaxPoolGrad
 * routes gradients to the wrong cells for overlapping windows after a convolution (a 3×3/2 'same' pool:
 * 13–71 % relative error against tfjs cpu, ONNX Runtime and finite differences, which all agree).
 */
export const REPLACED_KERNELS = ['MaxPoolGrad'] as const;

interface DataStore {
  readSync(dataId: object): tf.backend_util.BackendValues;
  write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): object;
  disposeData(dataId: object, force?: boolean): boolean;
}

function copyTensorInfo(from: DataStore, to: DataStore, info: tf.TensorInfo): tf.TensorInfo {
  const values = from.readSync(info.dataId);
  // slice(): the source may be a view into the wasm heap that moves when it grows.
  const copy = (values as Float32Array).slice();
  return { dataId: to.write(copy, info.shape, info.dtype), shape: info.shape, dtype: info.dtype };
}

let registered = false;

export function registerWasmKernelFallbacks(): void {
  if (registered) return;
  registered = true;
  for (const kernelName of [...BORROWED_KERNELS, ...REPLACED_KERNELS]) {
    const replaced = (REPLACED_KERNELS as readonly string[]).includes(kernelName);
    if (tf.getKernel(kernelName, 'wasm')) {
      if (!replaced) continue;
      tf.unregisterKernel(kernelName, 'wasm');
    }
    const cpuKernel = tf.getKernel(kernelName, 'cpu');
    if (!cpuKernel) continue;
    tf.registerKernel({
      kernelName,
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const cpu = tf.findBackend('cpu') as unknown as DataStore;
        const wasm = backend as unknown as DataStore;
        const cpuInputs: Record<string, tf.TensorInfo> = {};
        for (const [name, info] of Object.entries(inputs)) {
          if (info) cpuInputs[name] = copyTensorInfo(wasm, cpu, info);
        }
        try {
          const out = cpuKernel.kernelFunc({ inputs: cpuInputs, backend: cpu as never, attrs });
          const outs = Array.isArray(out) ? out : [out];
          const results = outs.map((o) => {
            const moved = copyTensorInfo(cpu, wasm, o);
            cpu.disposeData(o.dataId, true);
            return moved;
          });
          return Array.isArray(out) ? results : results[0];
        } finally {
          for (const info of Object.values(cpuInputs)) cpu.disposeData(info.dataId, true);
        }
      },
    });
  }
}
