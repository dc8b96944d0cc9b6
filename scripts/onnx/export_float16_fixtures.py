"""Writes the float16 ONNX fixtures in test/fixtures/onnx/float16 and their PyTorch reference.

Two forms of one small classifier (Conv 3->4 3x3 pad 1, Relu, Mul by a float16 Constant 0.5,
GlobalAveragePool, Flatten, Gemm 4->5), with float16 weights from a fixed seed:
- fp16_io.onnx: input and output are float16, as a model converted with onnxconverter-common is;
- fp16_inside.onnx: float32 input and output, Cast to float16 after the input and back to float32
  at the end (a mixed-precision export).
reference.json holds PyTorch autograd in float64 on the same weights (the float16 values, widened),
for one input whose values are exactly representable in float16: the logits and the input gradient
of the top logit (flat, NCHW). Saliency Lens computes such models in float32, so it must match this
to float32 rounding.

Run from the repository root: /usr/bin/python3 scripts/onnx/export_float16_fixtures.py
(Debian packages python3-torch python3-onnx python3-numpy). Reruns write the same files.
"""
import json
import os
import sys

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'onnx', 'float16')

rng = np.random.default_rng(16)
w_conv = (rng.standard_normal((4, 3, 3, 3)) * 0.4).astype(np.float16)
b_conv = (rng.standard_normal(4) * 0.1).astype(np.float16)
w_fc = (rng.standard_normal((5, 4)) * 0.5).astype(np.float16)
b_fc = (rng.standard_normal(5) * 0.1).astype(np.float16)
x = rng.standard_normal((1, 3, 8, 8)).astype(np.float16)


def body(inp, out):
    return [
        helper.make_node('Conv', [inp, 'w_conv', 'b_conv'], ['conv'], name='conv', kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node('Relu', ['conv'], ['relu'], name='relu'),
        helper.make_node('Constant', [], ['half'], name='half_const',
                         value=numpy_helper.from_array(np.array(0.5, dtype=np.float16), 'half')),
        helper.make_node('Mul', ['relu', 'half'], ['scaled'], name='scale'),
        helper.make_node('GlobalAveragePool', ['scaled'], ['pooled'], name='pool'),
        helper.make_node('Flatten', ['pooled'], ['flat'], name='flatten', axis=1),
        helper.make_node('Gemm', ['flat', 'w_fc', 'b_fc'], [out], name='fc', transB=1),
    ]


inits = [numpy_helper.from_array(a, n) for a, n in [(w_conv, 'w_conv'), (b_conv, 'b_conv'), (w_fc, 'w_fc'), (b_fc, 'b_fc')]]


def save(graph, name):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)], producer_name='export_float16_fixtures')
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(OUT, name))


os.makedirs(OUT, exist_ok=True)
save(helper.make_graph(body('input', 'logits'), 'fp16_io', [helper.make_tensor_value_info('input', TensorProto.FLOAT16, [1, 3, 8, 8])],
                       [helper.make_tensor_value_info('logits', TensorProto.FLOAT16, [1, 5])], inits), 'fp16_io.onnx')
nodes = [helper.make_node('Cast', ['input'], ['input16'], name='to_half', to=TensorProto.FLOAT16)] + body('input16', 'logits16') + \
    [helper.make_node('Cast', ['logits16'], ['logits'], name='to_float', to=TensorProto.FLOAT)]
save(helper.make_graph(nodes, 'fp16_inside', [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 3, 8, 8])],
                       [helper.make_tensor_value_info('logits', TensorProto.FLOAT, [1, 5])], inits), 'fp16_inside.onnx')

t = lambda a: torch.tensor(a.astype(np.float64))  # noqa: E731
xt = t(x).requires_grad_(True)
h = torch.nn.functional.conv2d(xt, t(w_conv), t(b_conv), padding=1).relu() * 0.5
logits = h.mean(dim=(2, 3)) @ t(w_fc).T + t(b_fc)
top = int(logits.argmax())
logits[0, top].backward()
with open(os.path.join(OUT, 'reference.json'), 'w') as f:
    json.dump({'generator': 'scripts/onnx/export_float16_fixtures.py', 'input': x.astype(np.float32).ravel().tolist(),
               'logits': logits.detach().numpy().ravel().tolist(), 'class': top, 'grad': xt.grad.numpy().ravel().tolist()}, f)
print('wrote', OUT, 'top class', top)
