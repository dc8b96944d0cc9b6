"""Writes the PyTorch references for the CAM family (test/fixtures/methods/cam_*.json and .onnx).

Two small CNNs with random, seeded weights (scripts/onnx/export_fixtures.py's initialisation: He-normal
weights, BatchNorm with random statistics) are exported to ONNX (opset 17, eval mode, input 'input',
output 'logits'):

- cam_resnet: a tiny torchvision-style ResNet (7x7/2 conv + BN + ReLU, 3x3/2 max-pool, two basic blocks
  with residual adds, the second strided with a 1x1 downsample), global average pool, linear; 3x48x48.
- cam_vgg: conv-ReLU stacks and max-pools, then flatten and a linear layer (no global pooling, so the
  gradient at the last conv varies over positions and is exactly zero where a max-pool did not pick).

For one seeded input (standard normal rounded to three decimals; redrawn until no ReLU input or max-pool window is near a kink, as the ONNX fixtures)
and two classes (top and runner-up), the activations A and gradients G = d logit_c / d A of the chosen
layers come from torch hooks and autograd (float32); each CAM is then computed from its formula in numpy
float64 — written here from the definitions, not with pytorch-grad-cam:

  gradcam    w_k = mean_ij G;                                     map = ReLU(sum_k w_k A_k)
  gradcam++  a = G^2 / (2 G^2 + sum_ij A_k G^3 + 1e-6), 0 where G = 0; w_k = sum_ij ReLU(G) a
  xgradcam   w_k = sum_ij G A / (sum_ij A + 1e-7)
  hirescam   map = ReLU(sum_k G_k A_k)
  layercam   map = ReLU(sum_k ReLU(G_k) A_k); several layers (the paper's Eq. 9, on every map as
             torchcam does): each map tanh(2 * map / its max), bilinear (align_corners=False) to the
             largest size, element-wise max
  eigencam   the (h*w x K) activations, each channel centred, projected on the first right singular
             vector (numpy SVD, its sign as it comes; `projection` holds it before ReLU)
  scorecam   per non-constant channel: A_k upsampled to the input (bilinear, align_corners=True), scaled
             (M - min) / (max - min + 1e-8), the input times it through the model (torch, float32), its
             score the class logit (or logit_a - logit_b for a contrast); w = softmax of the scores over
             those channels (0 for constant ones); maxChannels n keeps the n channels of largest mean A

Maps are flat, row-major (h, w), at the layer's resolution. Run from the repository root with Debian's
python3 (python3-torch, python3-onnx, python3-numpy):

    /usr/bin/python3 scripts/methods/cam_refs.py

Reruns write the same files. CI only reads them.
"""
import os
import sys

sys.dont_write_bytecode = True

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, 'scripts', 'onnx'))
import onnx_helpers as H  # noqa: E402
from export_fixtures import draw_input, get_module, seeded_model, SmallResNet  # noqa: E402

OUT_DIR = os.path.join(ROOT, 'test', 'fixtures', 'methods')
NUM_CLASSES = 10
MIN_KINK_MARGIN = 2e-5
MAX_ONNX_BYTES = 120 * 1024


def CamResNet():
    """48 -> 24 (stem) -> 12 (pool, layer1: 12x12x16) -> 6 (layer2: 6x6x24)."""
    return SmallResNet(width=16, out_width=24)


class CamVGG(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
                                    nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())     # 32x32x16
        self.pool1 = nn.MaxPool2d(2)                                               # 16
        self.block2 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())    # 16x16x16
        self.pool2 = nn.MaxPool2d(2)                                               # 8
        self.block3 = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())    # 8x8x16
        self.pool3 = nn.MaxPool2d(2)                                               # 4
        self.fc = nn.Linear(16 * 4 * 4, NUM_CLASSES)

    def forward(self, x):
        x = self.pool2(self.block2(self.pool1(self.block1(x))))
        x = self.pool3(self.block3(x))
        return self.fc(torch.flatten(x, 1))


# name, class, seed, input shape, layers (module paths; the first is the main one), LayerCAM fusions
MODELS = [
    ('cam_resnet', CamResNet, 201, (1, 3, 48, 48), ['layer1', 'layer2'], [['layer1', 'layer2']]),
    ('cam_vgg', CamVGG, 203, (1, 3, 32, 32), ['block3', 'block2'], [['block3', 'block2']]),
]


def activations_and_grads(model, modules, x, seeds):
    """Activations of `modules` (numpy float64, [K, h, w]) and, per seed vector on the logits,
    d(seed . logits)/dA for each, from torch autograd in float32."""
    store = {}
    handles = [m.register_forward_hook(lambda _m, _i, out, key=i: store.__setitem__(key, out))
               for i, m in enumerate(modules)]
    logits = model(x)
    for h in handles:
        h.remove()
    acts = [store[i] for i in range(len(modules))]
    grads = []
    for seed in seeds:
        gs = torch.autograd.grad((logits[0] * torch.tensor(seed)).sum(), acts, retain_graph=True)
        grads.append([g[0].double().numpy() for g in gs])
    return logits.detach(), [a[0].detach().double().numpy() for a in acts], grads


def relu(v):
    return np.maximum(v, 0)


def channel_cam(a, w):
    return relu(np.tensordot(w, a, axes=(0, 0)))


def gradcam(a, g):
    return channel_cam(a, g.mean(axis=(1, 2)))


def gradcam_pp(a, g):
    g2, g3 = g ** 2, g ** 3
    sum_a = a.sum(axis=(1, 2))[:, None, None]
    alpha = np.where(g != 0, g2 / (2 * g2 + sum_a * g3 + 1e-6), 0)
    return channel_cam(a, (relu(g) * alpha).sum(axis=(1, 2)))


def xgradcam(a, g):
    return channel_cam(a, (g * a).sum(axis=(1, 2)) / (a.sum(axis=(1, 2)) + 1e-7))


def hirescam(a, g):
    return relu((g * a).sum(axis=0))


def layercam(a, g):
    return relu((relu(g) * a).sum(axis=0))


LAYERCAM_GAMMA = 2.0


def fuse(maps):
    h, w = max((m.shape for m in maps), key=lambda s: s[0] * s[1])
    out = None
    for m in maps:
        peak = m.max()
        scaled = np.tanh(LAYERCAM_GAMMA * m / peak) if peak > 0 else m
        t = torch.from_numpy(scaled)[None, None]
        if scaled.shape != (h, w):
            t = F.interpolate(t, size=(h, w), mode='bilinear', align_corners=False)
        t = t[0, 0].numpy()
        out = t if out is None else np.maximum(out, t)
    return out


def eigen_projection(a):
    k = a.shape[0]
    rows = a.reshape(k, -1).T
    rows = rows - rows.mean(axis=0)
    _u, s, vt = np.linalg.svd(rows, full_matrices=False)
    return (rows @ vt[0]).reshape(a.shape[1:]), s


def scorecam(model, x, a, seed, max_channels=0):
    k = a.shape[0]
    flat = a.reshape(k, -1)
    channels = [c for c in range(k) if flat[c].max() > flat[c].min()]
    if 0 < max_channels < len(channels):
        means = flat.mean(axis=1)
        channels = sorted(sorted(channels, key=lambda c: (-means[c], c))[:max_channels])
    at = torch.from_numpy(a[channels]).float()[None]
    up = F.interpolate(at, size=x.shape[-2:], mode='bilinear', align_corners=True)[0]
    lo = up.amin(dim=(1, 2), keepdim=True)
    hi = up.amax(dim=(1, 2), keepdim=True)
    masks = (up - lo) / (hi - lo + 1e-8)
    with torch.no_grad():
        logits = model(x * masks[:, None]).double().numpy()
    scores = logits @ np.asarray(seed, dtype=np.float64)
    e = np.exp(scores - scores.max())
    weights = np.zeros(k)
    weights[channels] = e / e.sum()
    return channel_cam(a, weights), len(channels)


def one_hot(c, minus=None):
    s = [0.0] * NUM_CLASSES
    s[c] = 1.0
    if minus is not None:
        s[minus] -= 1.0
    return s


def flat(m):
    return [float(np.float32(v)) for v in np.asarray(m).ravel()]


def export_one(name, cls, seed, shape, layer_paths, fusions):
    model, gen = seeded_model(cls, seed)
    # Three decimals: short in the JSON, and still a generic input.
    x, margin, draws = draw_input(name, model, gen, shape, MIN_KINK_MARGIN, decimals=3)

    onnx_path = os.path.join(OUT_DIR, name + '.onnx')
    H.export_onnx(model, x, onnx_path)
    exported = onnx.load(onnx_path)
    onnx.checker.check_model(exported)
    size = os.path.getsize(onnx_path)
    assert size < MAX_ONNX_BYTES, f'{name}.onnx is {size} bytes'

    modules = [get_module(model, p) for p in layer_paths]
    layers = {}
    for p, m in zip(layer_paths, modules):
        tensor, node, op, cam_shape = H.module_output_tensor(model, m, x, exported)
        layers[p] = {'node': node, 'tensor': tensor, 'op': op, 'shape': cam_shape}

    with torch.no_grad():
        logits = model(x)
    order = torch.argsort(logits[0], descending=True).tolist()
    top, other = order[0], order[1]
    targets = [{'class': top, 'seed': one_hot(top)}, {'class': other, 'seed': one_hot(other)}]
    _logits, acts, grads = activations_and_grads(model, modules, x, [t['seed'] for t in targets])

    cases = []

    def add(method, layer_keys, target, m, **extra):
        m = np.asarray(m)
        cases.append({'method': method, 'layers': [layers[k]['node'] for k in layer_keys],
                      **target, 'height': m.shape[0], 'width': m.shape[1], **extra, 'map': flat(m)})

    formulas = {'gradcam': gradcam, 'gradcam++': gradcam_pp, 'xgradcam': xgradcam, 'hirescam': hirescam,
                'layercam': layercam}
    for ti, t in enumerate(targets):
        target = {'target': t['class']}
        # Every gradient CAM at every layer for the top class; at the main layer for the runner-up.
        for li, key in enumerate(layer_paths if ti == 0 else layer_paths[:1]):
            for method, f in formulas.items():
                m = f(acts[li], grads[ti][li])
                assert m.max() > 0, f'{name} {method} {key} class {t["class"]}: no positive evidence'
                add(method, [key], target, m)
        for fusion in fusions:
            idx = [layer_paths.index(k) for k in fusion]
            add('layercam', fusion, target, fuse([layercam(acts[i], grads[ti][i]) for i in idx]))
        sm, scored = scorecam(model, x, acts[0], t['seed'])
        add('scorecam', layer_paths[:1], target, sm, channelsScored=scored)
        sm, scored = scorecam(model, x, acts[0], t['seed'], max_channels=6)
        add('scorecam', layer_paths[:1], target, sm, options={'maxChannels': 6}, channelsScored=scored)
    sm, scored = scorecam(model, x, acts[0], one_hot(top, other))
    add('scorecam', layer_paths[:1], {'contrast': [top, other]}, sm, channelsScored=scored)
    eigen = []
    for li, key in enumerate(layer_paths):
        p, s = eigen_projection(acts[li])
        # The first direction is well defined only when sigma_1 stands clear of sigma_2.
        assert s[0] > 1.05 * s[1], f'{name} {key}: sigma1 {s[0]} too close to sigma2 {s[1]}'
        add('eigencam', [key], {}, p, projection=True, sigmaRatio=float(s[0] / s[1]))

    H.write_json(os.path.join(OUT_DIR, name + '.json'), {
        'model': name + '.onnx',
        'generator': 'scripts/methods/cam_refs.py',
        'torch': torch.__version__,
        'opset': H.OPSET,
        'inputName': H.INPUT_NAME,
        'outputName': H.OUTPUT_NAME,
        'inputShape': list(shape),
        'inputLayout': 'NCHW',
        'input': H.f32_list(x),
        'logits': H.f32_list(logits),
        'kinkMargin': margin,
        'classes': [top, other],
        'layers': layers,
        'cases': cases,
    })
    ref_size = os.path.getsize(os.path.join(OUT_DIR, name + '.json'))
    described = ', '.join('%s %s (%s)' % (k, v['shape'], v['node']) for k, v in layers.items())
    print(f'{name}: {size / 1024:.1f} KB onnx, {ref_size / 1024:.0f} KB json; classes {top}, {other}; '
          f'layers {described}; '
          f'{len(cases)} cases; kink margin {margin:.2e}, input draw {draws}')


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    for spec in MODELS:
        export_one(*spec)


if __name__ == '__main__':
    main()
