"""Exports the large benchmark models: torchvision vgg11 and vit_b_16 with random weights.

Built with weights=None from a fixed seed (nothing is downloaded); ViT's classification head, which
torchvision initializes to zeros (every saliency map would be zero), is drawn from N(0, 0.02). Exported
in eval mode for a 1x3x224x224 input (opset 17, constant folding, input 'input', output 'logits') to
OUTDIR/vgg11.onnx (~530 MB) and OUTDIR/vit_b_16.onnx (~350 MB); a file already there is kept. Keep
them out of git. Prints, as JSON, each file and its size.

    /usr/bin/python3 scripts/onnx/export_big_models.py OUTDIR
"""
import json
import os
import sys

sys.dont_write_bytecode = True  # keep scripts/onnx free of __pycache__

import torch  # noqa: E402
import torchvision  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_helpers as H  # noqa: E402

SEED = 0
MODELS = [('vgg11', torchvision.models.vgg11), ('vit_b_16', torchvision.models.vit_b_16)]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = os.path.abspath(sys.argv[1])
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)
    result = {}
    for name, build in MODELS:
        path = os.path.join(out_dir, name + '.onnx')
        if not os.path.exists(path):
            torch.manual_seed(SEED)
            model = build(weights=None).eval()
            if hasattr(model, 'heads'):
                torch.nn.init.normal_(model.heads.head.weight, std=0.02)
            x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(SEED))
            tmp = path + '.part'
            H.export_onnx(model, x, tmp)
            os.replace(tmp, path)
        result[name] = {'file': path, 'bytes': os.path.getsize(path)}
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
