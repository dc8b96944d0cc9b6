"""Exports the benchmark models: torchvision resnet18 and mobilenet_v2 with random weights.

Both are built with weights=None from a fixed seed (nothing is downloaded), put in eval mode and
exported for a 1x3x224x224 input (opset 17, constant folding, input 'input', output 'logits') to
OUTDIR/resnet18.onnx and OUTDIR/mobilenetv2.onnx. Prints, as JSON, each file and the ONNX value
to use for Grad-CAM (the output of resnet18's layer4, and of mobilenet_v2's features, i.e. its
last ReLU6, exported as Clip). The files are ~45 MB and ~14 MB: keep them out of git.

    python3 scripts/onnx/export_bench_models.py OUTDIR
"""
import json
import os
import sys

sys.dont_write_bytecode = True  # keep scripts/onnx free of __pycache__

import onnx  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_helpers as H  # noqa: E402

SEED = 0
# name, builder, Grad-CAM module (attribute of the torchvision model)
MODELS = [
    ('resnet18', torchvision.models.resnet18, 'layer4'),
    ('mobilenetv2', torchvision.models.mobilenet_v2, 'features'),
]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = os.path.abspath(sys.argv[1])
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)
    result = {}
    for name, build, cam_module in MODELS:
        torch.manual_seed(SEED)
        model = build(weights=None).eval()
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(SEED))
        path = os.path.join(out_dir, name + '.onnx')
        H.export_onnx(model, x, path)
        exported = onnx.load(path)
        onnx.checker.check_model(exported)
        tensor, _node, op_type, shape = H.module_output_tensor(model, getattr(model, cam_module), x, exported)
        result[name] = {'file': path, 'gradcamTensor': tensor, 'gradcamShape': shape, 'gradcamOp': op_type,
                        'opTypes': H.op_types(exported)}
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
