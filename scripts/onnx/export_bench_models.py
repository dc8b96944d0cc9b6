"""Exports the benchmark models: torchvision resnet18, mobilenet_v2, vit_b_16 and convnext_tiny with random weights.

Each is built with weights=None from a fixed seed (nothing is downloaded), put in eval mode and
exported for a 1x3x224x224 input (opset 17, constant folding, input 'input', output 'logits') to
OUTDIR/<key>.onnx. ViT's classification head, which torchvision initializes to zeros (every
saliency map would be zero), is drawn from N(0, 0.02), as in export_big_models.py and
torch_bench.py. Prints, as JSON, each file and the ONNX value of the module torch_bench.py hooks
for Grad-CAM (resnet18's layer4, mobilenet_v2's features, i.e. its last ReLU6 exported as Clip,
vit_b_16's last ln_1, convnext_tiny's features).

The small models (~45 MB, ~14 MB) are exported every time; the large ones (vit_b_16 ~350 MB,
convnext_tiny ~110 MB, a minute or more to export) are kept when already there, and their Grad-CAM
value is not probed (that exports them a second time). Keep the files out of git.

    python3 scripts/onnx/export_bench_models.py OUTDIR [KEY ...]    (default: every model)
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
from torch_bench import MODELS, build_model  # noqa: E402

SEED = 0
LARGE = {'vit_b_16', 'convnext_tiny'}


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith('-'):
        sys.exit(__doc__)
    out_dir = os.path.abspath(sys.argv[1])
    keys = sys.argv[2:] or [m[0] for m in MODELS]
    unknown = [k for k in keys if k not in {m[0] for m in MODELS}]
    if unknown:
        sys.exit(f'unknown model(s) {", ".join(unknown)}; known: {", ".join(m[0] for m in MODELS)}')
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)
    result = {}
    for name, _build, cam_module in MODELS:
        if name not in keys:
            continue
        path = os.path.join(out_dir, name + '.onnx')
        if name in LARGE and os.path.exists(path):
            result[name] = {'file': path, 'kept': True}
            continue
        model, cam = build_model(name)
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(SEED))
        tmp = path + '.part'
        H.export_onnx(model, x, tmp)
        os.replace(tmp, path)
        if name in LARGE:
            result[name] = {'file': path}
            continue
        exported = onnx.load(path)
        onnx.checker.check_model(exported)
        tensor, _node, op_type, shape = H.module_output_tensor(model, cam, x, exported)
        result[name] = {'file': path, 'gradcamTensor': tensor, 'gradcamShape': shape, 'gradcamOp': op_type,
                        'opTypes': H.op_types(exported)}
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
