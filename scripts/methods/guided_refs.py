"""PyTorch references for Guided Backpropagation and Guided Grad-CAM (test/unit/methodsGuided.test.ts).

Two small torchvision-style CNNs (random weights from a fixed seed, BatchNorm with random statistics)
are exported to ONNX as test/fixtures/methods/guided_<name>.onnx (opset 17, eval mode, input 'input'
1x3x24x24 NCHW, output 'logits'), and for one seeded input (redrawn until no ReLU/ReLU6 input or
max-pool window is near a kink) guided_<name>.json holds, for the top class c:

- guided: Guided Backpropagation, d logit_c / d input with every nn.ReLU's backward replaced by
  grad_out * (input > 0) * (grad_out > 0) (Springenberg et al. 2015), as pytorch-grad-cam's
  GuidedBackpropReLU and Captum's GuidedBackprop do: only nn.ReLU modules, so the ReLU6 of
  guided_vgg keeps its ordinary gradient;
- gradcam: Grad-CAM at the named layer, ReLU(sum_k mean_hw(dlogit_c/dA_k) A_k), at the layer's size;
- guidedGradcam: Selvaraju et al. 2017 section 3.2, guided * (Grad-CAM upsampled bilinearly to the
  input size, align_corners=False, i.e. half-pixel centres as OpenCV's resize), channel by channel.
  The CAM keeps its raw values (pytorch-grad-cam's example scales it to [0, 1] first).

Arrays are flat, NCHW, float32 values as the shortest decimals that parse back exactly. guided_resnet
has an overlapping max-pool, a residual add and a reused ReLU module (like torchvision's BasicBlock);
guided_vgg has non-overlapping max-pools, a ReLU6 and a ReLU in its classifier head.

Run from the repository root with Debian's python3-torch, python3-onnx, python3-numpy:

    /usr/bin/python3 scripts/methods/guided_refs.py

Reruns write the same files. CI only reads them.
"""
import os
import sys

sys.dont_write_bytecode = True

import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'scripts', 'onnx'))
import onnx_helpers as H  # noqa: E402
from export_fixtures import draw_input, get_module, seeded_model, SmallResNet  # noqa: E402

OUT_DIR = os.path.join(ROOT, 'test', 'fixtures', 'methods')
SHAPE = (1, 3, 24, 24)
NUM_CLASSES = 10
MIN_KINK_MARGIN = 1e-4


def GuidedResNet():
    """24 -> 24 (3x3 stride-1 stem) -> 12 (overlapping pool; layer1's residual add reuses its ReLU) -> 6 (layer2)."""
    return SmallResNet(width=8, out_width=16, stem_kernel=3, stem_stride=1)


class GuidedVGG(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),        # 24 -> 12
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU6(),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),      # 12 -> 6
        )
        self.classifier = nn.Sequential(nn.Linear(16 * 36, 16), nn.ReLU(), nn.Linear(16, NUM_CLASSES))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


# name, class, seed, Grad-CAM module path
MODELS = [
    ('guided_resnet', GuidedResNet, 7, 'layer2'),
    ('guided_vgg', GuidedVGG, 8, 'features.6'),
]


class _GuidedRelu(torch.autograd.Function):
    """ReLU whose backward passes only positive gradients where the input was positive."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad_out):
        (x,) = ctx.saved_tensors
        return grad_out * (x > 0).to(grad_out.dtype) * (grad_out > 0).to(grad_out.dtype)


def guided_gradient(model, x, c):
    """d logit_c / d x with every nn.ReLU module's backward guided (forward hooks swap their output)."""
    def hook(_module, inputs, _output):
        return _GuidedRelu.apply(inputs[0])
    handles = [m.register_forward_hook(hook) for m in model.modules() if type(m) is nn.ReLU]
    try:
        xi = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(model(xi)[0, c], xi)
    finally:
        for h in handles:
            h.remove()
    return g


def reference(model, module, x):
    store = {}
    handle = module.register_forward_hook(lambda _m, _i, out: store.__setitem__('act', out))
    xi = x.clone().requires_grad_(True)
    logits = model(xi)
    handle.remove()
    c = int(torch.argmax(logits[0]))
    act = store['act']
    plain, dact = torch.autograd.grad(logits[0, c], (xi, act))
    weights = dact.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * act).sum(dim=1, keepdim=True)).detach()
    up = F.interpolate(cam, size=SHAPE[2:], mode='bilinear', align_corners=False)
    guided = guided_gradient(model, x, c)
    # Else the reference could not tell guided from ordinary gradients.
    assert (guided - plain).abs().max() > 1e-2 * plain.abs().max(), 'guided equals the plain gradient'
    assert cam.max() > 0, 'Grad-CAM is zero everywhere'
    return logits.detach(), c, guided, cam, guided * up


def export_one(name, cls, seed, cam_path):
    model, gen = seeded_model(cls, seed)
    x, margin, draws = draw_input(name, model, gen, SHAPE, MIN_KINK_MARGIN)
    onnx_path = os.path.join(OUT_DIR, name + '.onnx')
    H.export_onnx(model, x, onnx_path)
    exported = onnx.load(onnx_path)
    onnx.checker.check_model(exported)
    module = get_module(model, cam_path)
    tensor, node, op_type, cam_shape = H.module_output_tensor(model, module, x, exported)
    logits, c, guided, cam, product = reference(model, module, x)
    H.write_json(os.path.join(OUT_DIR, name + '.json'), {
        'model': name + '.onnx',
        'generator': 'scripts/methods/guided_refs.py',
        'torch': torch.__version__,
        'definition': 'Guided Backprop: nn.ReLU backward = grad_out*(x>0)*(grad_out>0) (pytorch-grad-cam GuidedBackpropReLU, '
                      'Captum GuidedBackprop); Guided Grad-CAM: guided * bilinear(align_corners=False) upsampled raw Grad-CAM',
        'opTypes': H.op_types(exported),
        'inputShape': list(SHAPE),
        'kinkMargin': margin,
        'class': c,
        'layer': {'tensor': tensor, 'node': node, 'op': op_type, 'module': cam_path, 'shape': cam_shape},
        'input': H.f32_list(x),
        'logits': H.f32_list(logits),
        'guided': H.f32_list(guided),
            'gradcam': H.f32_list(cam),
        'guidedGradcam': H.f32_list(product),
    })
    print(f'{name}: class {c}, layer {tensor} {cam_shape} [{op_type}], kink margin {margin:.2e} (draw {draws}), '
          f'ops {" ".join(H.op_types(exported))}')


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, cls, seed, cam_path in MODELS:
        export_one(name, cls, seed, cam_path)


if __name__ == '__main__':
    main()
