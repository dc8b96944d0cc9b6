"""Helpers shared by the scripts in scripts/onnx (imported by them, not run on its own).

- export_onnx: torch.onnx.export with the settings every script here uses (opset 17, constant
  folding, input named 'input', output named 'logits').
- module_output_tensor: the name of the ONNX value that holds a given torch module's output.
- f32_list / write_json: float32 values as short decimal strings that round-trip exactly.

Needs torch, onnx and numpy (Debian: python3-torch python3-onnx python3-numpy).
"""
import io
import json
import math

import numpy as np
import onnx
import torch

OPSET = 17
INPUT_NAME = 'input'
OUTPUT_NAME = 'logits'
EVAL = torch.onnx.TrainingMode.EVAL
PRESERVE = torch.onnx.TrainingMode.PRESERVE


def export_onnx(model, example, f, training=EVAL, output_names=(OUTPUT_NAME,)):
    """Exports model (already in eval mode) for the fixed-shape example input to a path or file."""
    assert not model.training, 'export in eval mode'
    torch.onnx.export(
        model, (example,), f,
        opset_version=OPSET,
        do_constant_folding=True,
        training=training,
        input_names=[INPUT_NAME],
        output_names=list(output_names),
    )


def export_proto(model, example, training=EVAL, output_names=(OUTPUT_NAME,)):
    buf = io.BytesIO()
    export_onnx(model, example, buf, training, output_names)
    return onnx.load_from_string(buf.getvalue())


def _capture_output(module, store):
    """Forward hook that keeps the module's (last) output in store['out']."""
    def hook(_module, _inputs, output):
        store['out'] = output
    return module.register_forward_hook(hook)


def module_output_tensor(model, module, example, exported, training=EVAL):
    """Finds the value in `exported` (the ONNX export of model) that is `module`'s output.

    Re-exports a probe variant of the same model whose forward also returns the module's output
    as a second graph output named 'probe'. Torch names nodes after module scopes, so the node that
    produces 'probe' has the same name (and op type) as the node producing that tensor in the
    normal export; its output there is the tensor we want. The shape is then checked against
    ONNX shape inference and against the tensor a torch hook sees.

    Returns (value_name, node_name, op_type, shape).
    """
    store = {}
    original = type(model).forward

    def probed_forward(x):
        handle = _capture_output(module, store)
        try:
            out = original(model, x)
        finally:
            handle.remove()
        return out, store['out']

    model.forward = probed_forward  # instance attribute: module scopes (and node names) stay the same
    try:
        probe = export_proto(model, example, training, (OUTPUT_NAME, 'probe'))
    finally:
        del model.forward
    producers = [n for n in probe.graph.node if 'probe' in n.output]
    assert len(producers) == 1, 'probe output has no unique producer'
    node_name, op_type = producers[0].name, producers[0].op_type

    matches = [n for n in exported.graph.node if n.name == node_name]
    assert len(matches) == 1, f'node {node_name} not found exactly once in the export'
    assert matches[0].op_type == op_type, f'{node_name}: {matches[0].op_type} != {op_type}'
    value = matches[0].output[0]
    # The probe graph must be the normal graph plus one output: same nodes, same ops.
    assert [(n.name, n.op_type) for n in probe.graph.node] == [(n.name, n.op_type) for n in exported.graph.node], \
        'probe export differs from the normal export'

    shape = value_shape(exported, value)
    with torch.no_grad():
        handle = _capture_output(module, store)
        model(example)
        handle.remove()
    assert list(store['out'].shape) == shape, f'{value}: torch {list(store["out"].shape)} vs onnx {shape}'
    return value, node_name, op_type, shape


def value_shape(model_proto, value):
    """Static shape of an intermediate or output value, from ONNX shape inference."""
    inferred = onnx.shape_inference.infer_shapes(model_proto)
    infos = list(inferred.graph.value_info) + list(inferred.graph.output)
    for info in infos:
        if info.name == value:
            return [d.dim_value for d in info.type.tensor_type.shape.dim]
    raise KeyError(f'no shape inferred for {value}')


def op_types(model_proto):
    return sorted({n.op_type for n in model_proto.graph.node})


def f32_list(tensor):
    """Flat list of floats, each the shortest decimal that parses back to the same float32."""
    values = tensor.detach().cpu().numpy().astype(np.float32).ravel()
    out = [float(str(v)) for v in values]
    assert all(math.isfinite(v) for v in out), 'non-finite value'
    return out


def write_json(path, obj):
    """One top-level key per line, values compact (the arrays are long)."""
    lines = [f'  {json.dumps(k)}: {json.dumps(v, separators=(",", ":"))}' for k, v in obj.items()]
    with open(path, 'w', encoding='utf-8') as f:
        f.write('{\n' + ',\n'.join(lines) + '\n}\n')
