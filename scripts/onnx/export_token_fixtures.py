"""Exports the small transformer-shaped ONNX models in test/fixtures/onnx/tokens and their Grad-CAM references.

Models (random weights from a fixed seed, torchvision's own classes at tiny widths, eval mode, opset 17):
- vit_p16: torchvision VisionTransformer, 64x64 input, patch 16 (4x4 grid, 1 class token), CLS-pooled.
- vit_p8_reg: the same ViT at a non-square 48x80 input, patch 8 (6x10 grid) with a class token and one
  register token in front of the patches (T = 2 + 60), CLS-pooled.
- vit_p32: 64x96 input, patch 32 (2x3 grid), CLS-pooled.
- swin: torchvision SwinTransformer (patch 4, two stages of one block, windows 2, patch merging), 32x32 input;
  its tokens are channels-last [1, h, w, C].
- convnext: torchvision ConvNeXt (two stages of two blocks), 32x32 input; its blocks permute to [1, h, w, C]
  for LayerNorm and the Linear layers.

The input is a closed form (see image()), which the TypeScript test recomputes. For each model,
<name>.ref.json holds the logits and, for a few layers named by PyTorch module path, Grad-CAM computed
by hand in PyTorch from a forward hook's activation A and its gradient G for the top class, with the
reshape transform pytorch-grad-cam asks its users to write: token tensors [1, T, C] drop their special
tokens and become [h, w, C]; [1, C, h, w] tensors are permuted to [h, w, C]. alpha = mean over h, w of G;
map = ReLU(sum_c alpha_c A_c), flat row-major [h * w]. `blank` lists layers whose patch-token gradient
PyTorch finds exactly zero (a class-token head after the last attention).

Run from the repository root (Debian python3-torch, python3-torchvision, python3-onnx):

    /usr/bin/python3 scripts/onnx/export_token_fixtures.py

Reruns write the same files. CI only reads them.
"""
import math
import os
import sys
import warnings

sys.dont_write_bytecode = True
warnings.filterwarnings('ignore', category=UserWarning)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torchvision.models.vision_transformer import VisionTransformer  # noqa: E402
from torchvision.models.swin_transformer import SwinTransformer  # noqa: E402
from torchvision.models.convnext import ConvNeXt, CNBlockConfig  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_helpers as H  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, 'test', 'fixtures', 'onnx', 'tokens')
NUM_CLASSES = 10
MAX_ONNX_BYTES = 300 * 1024


def image(height, width):
    """[1, 3, H, W] float32: a closed form the TypeScript test recomputes (float64, then rounded)."""
    x = torch.zeros(1, 3, height, width, dtype=torch.float64)
    ys = torch.arange(height, dtype=torch.float64).view(height, 1)
    xs = torch.arange(width, dtype=torch.float64).view(1, width)
    for c in range(3):
        x[0, c] = torch.sin(0.37 * ys + 0.9 * c) * torch.cos(0.23 * xs - 0.4 * c) + 0.5 * torch.sin(0.05 * xs * ys + c)
    return x.float()


class TokenViT(VisionTransformer):
    """torchvision's ViT at any input size (its own asserts a square image_size), with `registers` extra
    special tokens after the class token; the head reads the class token, as torchvision's does."""

    def __init__(self, size, patch, registers, hidden, heads, mlp, layers):
        super().__init__(image_size=max(size), patch_size=patch, num_layers=layers, num_heads=heads,
                         hidden_dim=hidden, mlp_dim=mlp, num_classes=NUM_CLASSES)
        self.grid = (size[0] // patch, size[1] // patch)
        tokens = 1 + registers + self.grid[0] * self.grid[1]
        self.encoder.pos_embedding = nn.Parameter(torch.empty(1, tokens, hidden).normal_(std=0.02))
        self.register_tokens = nn.Parameter(torch.randn(1, registers, hidden) * 0.02) if registers else None
        nn.init.normal_(self.heads.head.weight, std=0.2)  # torchvision starts it at zero: no gradient at all

    def _process_input(self, x):
        n = x.shape[0]
        x = self.conv_proj(x)
        return x.reshape(n, self.hidden_dim, self.grid[0] * self.grid[1]).permute(0, 2, 1)

    def forward(self, x):
        x = self._process_input(x)
        n = x.shape[0]
        special = [self.class_token.expand(n, -1, -1)]
        if self.register_tokens is not None:
            special.append(self.register_tokens.expand(n, -1, -1))
        x = self.encoder(torch.cat(special + [x], dim=1))
        return self.heads(x[:, 0])


def vit(size, patch, registers=0, hidden=32):
    return TokenViT(size, patch, registers, hidden=hidden, heads=2, mlp=2 * hidden, layers=2)


def swin():
    return SwinTransformer(patch_size=[4, 4], embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=[2, 2],
                           stochastic_depth_prob=0.0, num_classes=NUM_CLASSES)


def convnext():
    return ConvNeXt([CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 2)], layer_scale=0.5, num_classes=NUM_CLASSES)


# name, seed, constructor, (H, W), special tokens (None: not a token model), layers: module path -> kind, blank layers
MODELS = [
    ('vit_p16', 201, lambda: vit((64, 64), 16), (64, 64), 1,
     {'encoder.layers.encoder_layer_1.ln_1': 'tokens', 'encoder.layers.encoder_layer_0': 'tokens'},
     ['encoder.layers.encoder_layer_1']),
    ('vit_p8_reg', 202, lambda: vit((48, 80), 8, registers=1), (48, 80), 2,
     {'encoder.layers.encoder_layer_1.ln_1': 'tokens'}, ['encoder.layers.encoder_layer_1']),
    ('vit_p32', 203, lambda: vit((64, 96), 32, hidden=16), (64, 96), 1,
     {'encoder.layers.encoder_layer_1.ln_1': 'tokens'}, ['encoder.layers.encoder_layer_1']),
    ('swin', 204, swin, (32, 32), None,
     {'norm': 'nhwc', 'features.1.0': 'nhwc'}, []),
    ('convnext', 205, convnext, (32, 32), None,
     {'features.3.1': 'nchw', 'features.3.1.block.2': 'nhwc'}, []),
]


def as_hwc(t, kind, special):
    """The reshape transform: [h, w, C] from a token, channels-last or channels-first tensor."""
    t = t[0]
    if kind == 'tokens':
        return t, special  # reshaped by the caller, who knows the grid
    return (t.permute(1, 2, 0) if kind == 'nchw' else t), 0


def reference(model, x, layers, grid, special, blank):
    captured = {}
    hooks = []
    for path in list(layers) + blank:
        module = model.get_submodule(path)

        def hook(_m, _i, out, path=path):
            out.retain_grad()
            captured[path] = out
        hooks.append(module.register_forward_hook(hook))
    logits = model(x)
    top = int(logits.argmax())
    logits[0, top].backward()
    for h in hooks:
        h.remove()
    cams = []
    for path, kind in layers.items():
        a, g = captured[path].detach(), captured[path].grad
        if kind == 'tokens':
            h, w = grid
            a = a[0, special:].reshape(h, w, -1)
            g = g[0, special:].reshape(h, w, -1)
        else:
            a, g = as_hwc(a, kind, 0)[0], as_hwc(g, kind, 0)[0]
        alpha = g.mean(dim=(0, 1))
        cam = torch.relu((a * alpha).sum(-1))
        assert float(cam.max()) > 0, f'{path}: blank reference map'
        cams.append({'layer': path, 'kind': kind, 'height': a.shape[0], 'width': a.shape[1], 'channels': a.shape[2],
                     'map': H.f32_list(cam)})
    for path in blank:
        patch_grad = captured[path].grad[0, special:]
        assert float(patch_grad.abs().max()) == 0.0, f'{path}: patch tokens do get a gradient'
    return logits.detach(), top, cams


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, seed, make, (height, width), special, layers, blank in MODELS:
        torch.manual_seed(seed)
        model = make().eval()
        x = image(height, width)
        onnx_path = os.path.join(OUT_DIR, name + '.onnx')
        H.export_onnx(model, x, onnx_path)
        size = os.path.getsize(onnx_path)
        assert size < MAX_ONNX_BYTES, f'{name}.onnx is {size} bytes'
        patch = model.patch_size if isinstance(model, VisionTransformer) else 4
        grid = (height // patch, width // patch)
        logits, top, cams = reference(model, x, layers, grid, special or 0, blank)
        H.write_json(os.path.join(OUT_DIR, name + '.ref.json'), {
            'model': name + '.onnx',
            'inputSize': [height, width],
            'patch': patch,
            'grid': list(grid),
            'special': special,
            'logits': H.f32_list(logits),
            'class': top,
            'cams': cams,
            'blank': blank,
        })
        print(f'{name}: {size} bytes, grid {grid}, class {top}, layers {", ".join(layers)}')


if __name__ == '__main__':
    main()
