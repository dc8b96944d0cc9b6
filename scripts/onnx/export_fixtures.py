"""Exports the small ONNX test models in test/fixtures/onnx and their PyTorch reference data.

Each model (random weights from a fixed seed; BatchNorm layers get random running statistics and
affine parameters so that BN changes the result) is exported with torch.onnx.export (opset 17,
constant folding, model in eval mode, input 'input', output 'logits'; tiny_vgg with
TrainingMode.PRESERVE so its BatchNormalization nodes are not folded) to <name>.onnx. Next to it,
<name>.ref.json holds what PyTorch autograd computes in float32 for one seeded standard-normal
input (redrawn, seeded, while it brings some ReLU/Clip/max-pool too close to a kink): the logits, input gradients of two class logits (the top class and the runner-up), the
gradient of their difference, and for Grad-CAM one late 4-D activation (its ONNX value name, its
values and the gradients of the two class logits with respect to it). All arrays are flat, in the
layout of the ONNX tensor (NCHW, except tiny_nhwc whose input is NHWC).

Run from the repository root (Debian packages python3-torch python3-onnx python3-numpy):

    python3 scripts/onnx/export_fixtures.py

Reruns write the same files. CI only reads them; regenerate only when the models change.
"""
import os
import sys
import warnings

sys.dont_write_bytecode = True  # keep scripts/onnx free of __pycache__
# Expected: g.op in the two custom symbolics below (deprecated only from 1.14), and the generic
# note about constant folding in a training-amenable export (tiny_vgg; the model is in eval mode).
warnings.filterwarnings('ignore', message='.*_graph_op.*', category=FutureWarning)
warnings.filterwarnings('ignore', message='It is recommended that constant folding be turned off')

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import onnx  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_helpers as H  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, 'test', 'fixtures', 'onnx')
NUM_CLASSES = 10
MAX_ONNX_BYTES = 300 * 1024
# Inputs are redrawn until no activation is this close to a kink (see kink_margin).
MIN_KINK_MARGIN = 2e-5


# ---------------------------------------------------------------------------------------------
# Ops that torch would otherwise drop from an eval-mode export.

class _IdentityOp(torch.autograd.Function):
    """Identity in torch; an explicit ONNX Identity node in the export."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad

    @staticmethod
    def symbolic(g, x):
        return g.op('Identity', x)


class ExportedIdentity(nn.Module):
    def forward(self, x):
        return _IdentityOp.apply(x)


class _InferenceDropoutOp(torch.autograd.Function):
    """Identity in torch; an ONNX Dropout node (ratio input given, training_mode left at its
    default false, so it is an identity at inference), as other exporters leave in graphs."""

    @staticmethod
    def forward(ctx, x, ratio):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad, None

    @staticmethod
    def symbolic(g, x, ratio):
        return g.op('Dropout', x, g.op('Constant', value_t=torch.tensor(ratio, dtype=torch.float32)))


class ExportedDropout(nn.Module):
    """nn.Dropout in training; in eval mode an identity that still exports as ONNX Dropout."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if self.training:
            return F.dropout(x, self.p, True)
        return _InferenceDropoutOp.apply(x, self.p)


# ---------------------------------------------------------------------------------------------
# Building blocks

def conv_bn(cin, cout, k, stride=1, padding=0, groups=1, dilation=1, act=None):
    layers = [nn.Conv2d(cin, cout, k, stride, padding, dilation=dilation, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """ResNet basic block; like torchvision it reuses self.relu (so the ONNX scopes are relu, relu_1)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class SqueezeExcite(nn.Module):
    """x * gate(fc2(act(fc1(mean over H, W of x)))), the fc layers as 1x1 convs (Mul broadcasts)."""

    def __init__(self, channels, squeeze, act, gate):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = act()
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = gate()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.avgpool(x)))))


class InvertedResidual(nn.Module):
    """MobileNetV2/V3 / EfficientNet block: [1x1 expand] -> kxk depthwise -> [SE] -> 1x1 project."""

    def __init__(self, cin, cout, expand, k, stride, act, se=None, dilation=1):
        super().__init__()
        hidden = cin * expand
        layers = []
        if expand != 1:
            layers.append(conv_bn(cin, hidden, 1, act=act))
        layers.append(conv_bn(hidden, hidden, k, stride, dilation * (k - 1) // 2, groups=hidden,
                              dilation=dilation, act=act))
        if se is not None:
            squeeze_act, gate, squeeze = se
            layers.append(SqueezeExcite(hidden, squeeze, squeeze_act, gate))
        layers.append(conv_bn(hidden, cout, 1))
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x):
        out = self.block(x)
        return x + out if self.use_residual else out


class Fire(nn.Module):
    def __init__(self, cin, squeeze, expand1, expand3):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze, expand1, 1)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze, expand3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU()

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class DenseLayer(nn.Module):
    """Pre-activation DenseNet layer: BN (standalone in ONNX: it follows a Concat/ReLU, not a
    Conv) -> ReLU -> 1x1 conv -> BN (folded into that conv) -> ReLU -> 3x3 conv, concatenated."""

    def __init__(self, cin, growth, bottleneck):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(cin, bottleneck, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bottleneck)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bottleneck, growth, 3, padding=1, bias=False)

    def forward(self, x):
        new = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
        return torch.cat([x, new], 1)


# ---------------------------------------------------------------------------------------------
# The fixture models. Each has `features` (or, for the ResNet, layer2) ending in the Grad-CAM layer.

class SmallResNet(nn.Module):
    """ResNet-18 in miniature: a conv-BN-ReLU stem, an overlapping padded max pool, one basic block, one strided
    basic block with its 1x1 downsample, global average pooling, a linear head. The method reference scripts
    (scripts/methods) build it at other widths and stems."""

    def __init__(self, width=16, out_width=32, stem_kernel=7, stem_stride=2):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, stem_kernel, stem_stride, stem_kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)                          # overlapping, padded: halves the side
        self.layer1 = nn.Sequential(BasicBlock(width, width, 1))
        self.layer2 = nn.Sequential(BasicBlock(width, out_width, 2))  # 1x1 stride-2 downsample: halves the side
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(out_width, NUM_CLASSES)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class TinyResNet(SmallResNet):
    """32 -> 16 (stem) -> 8 (pool) -> 4 (layer2). layer1's two BNs share their parameters (see init_weights), which
    makes torch's export put an Identity on a deduplicated initializer, like real torchvision exports with untrained BN."""


class TinyMobileNetV2(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(3, 16, 3, 2, 1, act=nn.ReLU6),                    # 32 -> 16
            InvertedResidual(16, 8, 1, 3, 1, nn.ReLU6),
            InvertedResidual(8, 8, 4, 3, 1, nn.ReLU6),                # residual
            InvertedResidual(8, 16, 4, 3, 2, nn.ReLU6),               # 16 -> 8
            InvertedResidual(16, 16, 4, 3, 1, nn.ReLU6),              # residual
            conv_bn(16, 64, 1, act=nn.ReLU6),
        )
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, NUM_CLASSES))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class TinyMobileNetV3(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(3, 16, 3, 2, 1, act=nn.Hardswish),                                       # 32 -> 16
            InvertedResidual(16, 16, 1, 3, 1, nn.ReLU, se=(nn.ReLU, nn.Hardsigmoid, 8)),      # residual
            InvertedResidual(16, 24, 3, 5, 2, nn.Hardswish, se=(nn.ReLU, nn.Hardsigmoid, 12)),  # 16 -> 8
            InvertedResidual(24, 24, 3, 3, 1, nn.Hardswish),                                   # residual
            conv_bn(24, 96, 1, act=nn.Hardswish),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(96, 64), nn.Hardswish(), nn.Dropout(0.2),
                                        nn.Linear(64, NUM_CLASSES))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class TinySqueezeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 2, stride=2),                  # no padding: 32 -> 16
            nn.ReLU(),
            nn.MaxPool2d(3, 2, ceil_mode=True),             # ceil mode, last window partial: 16 -> 8
            Fire(32, 8, 16, 16),
            Fire(32, 8, 16, 16),
            nn.MaxPool2d(3, 2, ceil_mode=True),             # 8 -> 4
            Fire(32, 12, 24, 24),
        )
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Conv2d(48, NUM_CLASSES, 1),
            nn.ReLU(),
            nn.AvgPool2d(3, 1, 1, count_include_pad=False),  # AveragePool with pads (count_include_pad=0)
            nn.AdaptiveAvgPool2d(1),
        )
        self.identity = ExportedIdentity()

    def forward(self, x):
        x = self.identity(self.features(x))
        return torch.flatten(self.classifier(x), 1)


class TinyVGG(nn.Module):
    """Exported with TrainingMode.PRESERVE, so BatchNormalization stays a separate node after its
    Conv (the eval-mode export folds it into the Conv). The BN'd convs have no bias input."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
            nn.MaxPool2d(2),                                  # 32 -> 16
            nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),                                  # 16 -> 8
            nn.Conv2d(32, 24, 3, padding=1), nn.ReLU(),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))           # exports as AveragePool 2x2 / 2
        self.classifier = nn.Sequential(
            nn.Linear(24 * 4 * 4, 32), nn.ReLU(), ExportedDropout(0.5), nn.Linear(32, NUM_CLASSES))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class TinyDenseNet(nn.Module):
    def __init__(self):
        super().__init__()
        growth, bottleneck = 8, 16
        self.features = nn.Sequential(
            conv_bn(3, 16, 3, 2, 1, act=nn.ReLU),                                   # 32 -> 16
            nn.Sequential(*[DenseLayer(16 + i * growth, growth, bottleneck) for i in range(3)]),  # 40 ch
            nn.Sequential(nn.BatchNorm2d(40), nn.ReLU(), nn.Conv2d(40, 20, 1, bias=False),
                          nn.AvgPool2d(2)),                                         # transition: 16 -> 8
            nn.Sequential(*[DenseLayer(20 + i * growth, growth, bottleneck) for i in range(2)]),  # 36 ch
            nn.BatchNorm2d(36),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(36, NUM_CLASSES)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class TinyEfficientNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(3, 16, 3, 2, 1, act=nn.SiLU),                                               # 32 -> 16
            InvertedResidual(16, 16, 1, 3, 1, nn.SiLU, se=(nn.SiLU, nn.Sigmoid, 4)),             # residual
            InvertedResidual(16, 24, 4, 3, 2, nn.SiLU, se=(nn.SiLU, nn.Sigmoid, 4)),             # 16 -> 8
            InvertedResidual(24, 24, 4, 3, 1, nn.SiLU, se=(nn.SiLU, nn.Sigmoid, 6), dilation=2),  # dilated dw
            conv_bn(24, 32, (3, 1), 1, (1, 0), act=nn.SiLU),       # padding differs between H and W
            conv_bn(32, 32, (1, 3), 1, (0, 1), act=nn.SiLU),
            conv_bn(32, 64, 3, 1, 1, groups=4, act=nn.SiLU),       # grouped (not depthwise)
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.weight = nn.Parameter(torch.empty(64, NUM_CLASSES))
        self.bias = nn.Parameter(torch.empty(NUM_CLASSES))

    def forward(self, x):
        x = self.avgpool(self.features(x)).view(1, -1)              # Reshape to a constant shape
        return torch.matmul(x, self.weight) + self.bias             # MatMul + Add head


class TinyNHWC(nn.Module):
    """Takes a channels-last 1x28x28x1 input (Transpose to NCHW as the first op)."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 28 -> 14
            nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        )
        self.fc = nn.Linear(16, NUM_CLASSES)

    def forward(self, x):
        x = self.features(x.permute(0, 3, 1, 2))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Inception(nn.Module):
    """GoogLeNet's block as torchvision writes it: 1x1, 1x1 -> 3x3, 1x1 -> 3x3, and a 3x3 stride-1 ceil-mode
    max-pool -> 1x1, concatenated."""

    def __init__(self, cin, c1, c3r, c3, c5r, c5, pool):
        super().__init__()
        self.branch1 = conv_bn(cin, c1, 1, act=nn.ReLU)
        self.branch2 = nn.Sequential(conv_bn(cin, c3r, 1, act=nn.ReLU), conv_bn(c3r, c3, 3, 1, 1, act=nn.ReLU))
        self.branch3 = nn.Sequential(conv_bn(cin, c5r, 1, act=nn.ReLU), conv_bn(c5r, c5, 3, 1, 1, act=nn.ReLU))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True), conv_bn(cin, pool, 1, act=nn.ReLU))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class TinyGoogLeNet(nn.Module):
    """Issue 13's GoogLeNet case in small: stride-2 ceil-mode max-pools stacked with the inception blocks'
    stride-1 pools, BatchNorm with random statistics."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn(3, 16, 7, 2, 3, act=nn.ReLU),                  # 32 -> 16
            nn.MaxPool2d(3, stride=2, ceil_mode=True),             # 16 -> 8
            Inception(16, 8, 8, 12, 4, 4, 4),                      # 28 channels
            nn.MaxPool2d(3, stride=2, ceil_mode=True),             # 8 -> 4
            Inception(28, 12, 8, 16, 4, 6, 6),                     # 40 channels
        )
        self.fc = nn.Linear(40, NUM_CLASSES)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


# name, class, seed, input shape, layout, export mode, Grad-CAM module (attribute path)
MODELS = [
    ('tiny_resnet', TinyResNet, 101, (1, 3, 32, 32), 'NCHW', H.EVAL, 'layer2'),
    ('tiny_mobilenetv2', TinyMobileNetV2, 102, (1, 3, 32, 32), 'NCHW', H.EVAL, 'features'),
    ('tiny_mobilenetv3', TinyMobileNetV3, 103, (1, 3, 32, 32), 'NCHW', H.EVAL, 'features'),
    ('tiny_squeezenet', TinySqueezeNet, 104, (1, 3, 32, 32), 'NCHW', H.EVAL, 'features'),
    ('tiny_vgg', TinyVGG, 105, (1, 3, 32, 32), 'NCHW', H.PRESERVE, 'features'),
    ('tiny_densenet', TinyDenseNet, 106, (1, 3, 32, 32), 'NCHW', H.EVAL, 'features'),
    ('tiny_efficientnet', TinyEfficientNet, 107, (1, 3, 32, 32), 'NCHW', H.EVAL, 'features'),
    ('tiny_nhwc', TinyNHWC, 108, (1, 28, 28, 1), 'NHWC', H.EVAL, 'features'),
    ('tiny_googlenet', TinyGoogLeNet, 109, (1, 3, 32, 32), 'NCHW', H.EVAL, 'features'),
]


def init_weights(model, gen):
    """He-normal weights (activations keep a useful scale through the random network), small
    random biases, and BatchNorm with non-trivial running statistics and affine parameters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_((torch.rand(m.bias.shape, generator=gen) - 0.5) * 0.2)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.3)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(c, generator=gen) * 0.2)
        if isinstance(model, TinyResNet):
            # Same BN parameters twice: after folding into their convs the two bias initializers
            # are equal, and torch's export deduplicates them into an Identity of an initializer,
            # as it does all over a torchvision model with default (untrained) BatchNorm.
            block = model.layer1[0]
            block.bn2.load_state_dict(block.bn1.state_dict())
        if isinstance(model, TinyEfficientNet):
            model.weight.copy_(torch.randn(model.weight.shape, generator=gen) * (2.0 / 64) ** 0.5)
            model.bias.copy_((torch.rand(model.bias.shape, generator=gen) - 0.5) * 0.2)


def get_module(model, path):
    for part in path.split('.'):
        model = getattr(model, part)
    return model


def _maxpool_top2_gap(pool, x, y):
    """Smallest gap between the largest and second-largest value of a max-pool window whose
    maximum is positive (windows of zeros after a ReLU tie, but no gradient survives the ReLU), exact
    ties left out."""
    k, s, p = (pool.kernel_size, pool.stride, pool.padding)
    k, s, p = (k, k) if isinstance(k, int) else k, (s, s) if isinstance(s, int) else s, (p, p) if isinstance(p, int) else p
    extra_h = (y.shape[2] - 1) * s[0] + k[0] - x.shape[2] - 2 * p[0]   # ceil_mode windows past the edge
    extra_w = (y.shape[3] - 1) * s[1] + k[1] - x.shape[3] - 2 * p[1]
    padded = F.pad(x, (p[1], p[1] + max(extra_w, 0), p[0], p[0] + max(extra_h, 0)), value=float('-inf'))
    windows = padded.unfold(2, k[0], s[0]).unfold(3, k[1], s[1]).reshape(-1, k[0] * k[1])
    top2 = windows.topk(2, dim=1).values
    # Exact ties are copies of one value (a stride-1 pool over a max-pooled map, as in GoogLeNet): every
    # runtime sends the gradient to the window's first maximum, so only near ties can differ.
    positive = (top2[:, 0] > 0) & (top2[:, 0] != top2[:, 1])
    return (top2[positive, 0] - top2[positive, 1]).min().item() if positive.any() else float('inf')


def kink_margin(model, x):
    """How close this input brings any piecewise-linear op to a kink: ReLU inputs to 0, ReLU6
    (Clip) inputs to 0 or 6, HardSwish/HardSigmoid inputs to -3 or 3, and the top two values of a
    max-pool window to each other. Far from kinks, the tiny float32 differences between PyTorch
    and another runtime cannot change which gradient branch is taken."""
    margins = []

    def hook(module, inputs, output):
        a = inputs[0].detach()
        if isinstance(module, nn.ReLU):
            margins.append(a.abs().min().item())
        elif isinstance(module, nn.ReLU6):
            margins.append(torch.minimum(a.abs(), (a - 6).abs()).min().item())
        elif isinstance(module, (nn.Hardswish, nn.Hardsigmoid)):
            margins.append(torch.minimum((a + 3).abs(), (a - 3).abs()).min().item())
        elif isinstance(module, nn.MaxPool2d):
            margins.append(_maxpool_top2_gap(module, a, output))

    kinds = (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.MaxPool2d)
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kinds)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return min(margins, default=float('inf'))


def reference(model, module, x):
    """Logits and float32 autograd gradients for the top class and the runner-up."""
    store = {}

    def keep(_m, _i, output):
        store['act'] = output

    handle = module.register_forward_hook(keep)
    xi = x.clone().requires_grad_(True)
    logits = model(xi)
    handle.remove()
    act = store['act']
    order = torch.argsort(logits[0], descending=True).tolist()
    top, other = order[0], order[1]
    assert logits[0, top] > logits[0, other], 'tied logits'
    saliency, cam_grads = [], []
    for c in (top, other):
        gx, ga = torch.autograd.grad(logits[0, c], (xi, act), retain_graph=True)
        assert gx.abs().max() > 0 and ga.abs().max() > 0, f'zero gradient for class {c}'
        saliency.append({'class': c, 'grad': H.f32_list(gx)})
        cam_grads.append({'class': c, 'grad': H.f32_list(ga)})
    (gdiff,) = torch.autograd.grad(logits[0, top] - logits[0, other], xi, retain_graph=True)
    return logits, act, (top, other), saliency, {'a': top, 'b': other, 'grad': H.f32_list(gdiff)}, cam_grads


def seeded_model(make, seed):
    """The model `make()` builds, with the seeded weights of init_weights, in eval mode, and the generator that
    drew them (inputs are drawn from it next)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = make()
    init_weights(model, gen)
    model.eval()
    return model, gen


def draw_input(name, model, gen, shape, min_margin, decimals=None):
    """A random input (rounded to `decimals` if given) whose activations all stay `min_margin` away from the
    kinks of ReLUs and max pools, so that finite differences and float32 runtimes agree with autograd; the
    number of draws it took."""
    for attempt in range(50):
        x = torch.randn(shape, generator=gen)
        if decimals is not None:
            x = torch.round(x * 10 ** decimals) / 10 ** decimals
        margin = kink_margin(model, x)
        if margin >= min_margin:
            return x, margin, attempt + 1
    raise RuntimeError(f'{name}: no input keeps activations {min_margin} away from kinks')


def export_one(name, cls, seed, shape, layout, training, cam_path):
    model, gen = seeded_model(cls, seed)
    x, margin, draws = draw_input(name, model, gen, shape, MIN_KINK_MARGIN)

    onnx_path = os.path.join(OUT_DIR, name + '.onnx')
    H.export_onnx(model, x, onnx_path, training)
    exported = onnx.load(onnx_path)
    onnx.checker.check_model(exported)
    size = os.path.getsize(onnx_path)
    assert size < MAX_ONNX_BYTES, f'{name}.onnx is {size} bytes'

    module = get_module(model, cam_path)
    tensor, node_name, op_type, cam_shape = H.module_output_tensor(model, module, x, exported, training)
    logits, act, classes, saliency, contrast, cam_grads = reference(model, module, x)

    ops = H.op_types(exported)
    H.write_json(os.path.join(OUT_DIR, name + '.ref.json'), {
        'model': name + '.onnx',
        'generator': 'scripts/onnx/export_fixtures.py',
        'torch': torch.__version__,
        'opset': H.OPSET,
        'exportMode': 'PRESERVE' if training == H.PRESERVE else 'EVAL',
        'opTypes': ops,
        'inputName': H.INPUT_NAME,
        'outputName': H.OUTPUT_NAME,
        'inputShape': list(shape),
        'inputLayout': layout,
        'logitsShape': list(logits.shape),
        'input': H.f32_list(x),
        'logits': H.f32_list(logits),
        'kinkMargin': margin if margin != float('inf') else None,  # None: no piecewise-linear ops
        'classes': list(classes),
        'saliency_grad': saliency,
        'contrast': contrast,
        'gradcam': {
            'tensor': tensor,
            'node': node_name,
            'op': op_type,
            'module': cam_path,
            'shape': cam_shape,
            'activation': H.f32_list(act),
            'grads': cam_grads,
        },
    })
    ref_size = os.path.getsize(os.path.join(OUT_DIR, name + '.ref.json'))
    assert ref_size < 1024 * 1024, f'{name}.ref.json is {ref_size} bytes'
    print(f'{name}: {size / 1024:.1f} KB onnx, {ref_size / 1024:.0f} KB ref; classes {classes} '
          f'(logits {logits[0, classes[0]].item():.4f}, {logits[0, classes[1]].item():.4f}); '
          f'Grad-CAM {tensor} {cam_shape} [{op_type}]; kink margin {margin:.2e}, input draw {draws}')
    print(f'  ops: {" ".join(ops)}')


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT_DIR, exist_ok=True)
    for spec in MODELS:
        export_one(*spec)


if __name__ == '__main__':
    main()
