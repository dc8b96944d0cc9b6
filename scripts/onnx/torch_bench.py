"""Times PyTorch on CPU for the benchmark models, as a baseline for the ONNX engine.

For torchvision resnet18, mobilenet_v2, vit_b_16 and convnext_tiny (random weights from a fixed
seed, eval mode, a random 1x3x224x224 input; ViT's zero-initialized head drawn from N(0, 0.02) as
export_bench_models.py does) it measures, after 2 warm-up runs, N timed runs (--large-runs for
vit_b_16 and convnext_tiny) of:
  forward   model(x) under torch.no_grad()
  saliency  forward with x.requires_grad, then torch.autograd.grad(logits[0, top], x)
  gradcam   forward with a hook keeping the target layer's output (resnet18's layer4,
            mobilenet_v2's features, vit_b_16's last ln_1 (the layer pytorch-grad-cam recommends
            for ViTs), convnext_tiny's features), then torch.autograd.grad(logits[0, top], activation)
Parameters are frozen (requires_grad False), so autograd computes only the gradients asked for,
as the ONNX engine does. Prints median milliseconds as JSON, with the BLAS torch was built with
(BLAS_INFO: Debian's python3-torch says 'generic', a reference BLAS that makes Linear/MatMul slow). --threads sets torch's intra-op
threads (default 2): the bench passes the thread count ONNX Runtime ran with.

With --methods, also the multi-pass methods on resnet18, each batched the way the engine batches them:
  smoothgrad  25 noisy copies (sigma 0.15 of the input range) in one batch, one forward and one backward
  ig          32 Gauss-Legendre points from a black (zero) baseline in one batch, plus the baseline's forward
  scorecam    layer4's 512 channel maps upsampled (bilinear), min-max normalized, the input masked by each,
              forward passes in batches of 32, softmax scores of the class, softmax over channels (as
              pytorch-grad-cam's ScoreCAM)

    python3 scripts/onnx/torch_bench.py --runs 10 [--large-runs 5] [--threads 2] [--models resnet18,vit_b_16] [--methods]
"""
import argparse
import json
import statistics
import time

import torch
import torchvision

SEED = 0
# key, builder, Grad-CAM module (path in the torchvision model)
MODELS = [
    ('resnet18', torchvision.models.resnet18, 'layer4'),
    ('mobilenetv2', torchvision.models.mobilenet_v2, 'features'),
    ('vit_b_16', torchvision.models.vit_b_16, 'encoder.layers.encoder_layer_11.ln_1'),
    ('convnext_tiny', torchvision.models.convnext_tiny, 'features'),
]
LARGE = {'vit_b_16', 'convnext_tiny'}


def build_model(key):
    """The model of `key` in eval mode with its seeded random weights, and its Grad-CAM module."""
    _key, build, cam_module = next(m for m in MODELS if m[0] == key)
    torch.manual_seed(SEED)
    model = build(weights=None).eval()
    if hasattr(model, 'heads'):
        torch.nn.init.normal_(model.heads.head.weight, std=0.02)
    return model, model.get_submodule(cam_module)


def median_ms(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def bench_model(key, runs):
    model, layer = build_model(key)
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        top = int(model(x)[0].argmax())

    def forward():
        with torch.no_grad():
            return model(x)

    def saliency():
        xi = x.clone().requires_grad_(True)
        logits = model(xi)
        return torch.autograd.grad(logits[0, top], xi)[0]

    store = {}

    def keep(_module, _inputs, output):
        # Nothing upstream needs a gradient, so the activation is made the leaf to differentiate to.
        act = output.detach().requires_grad_(True)
        store['act'] = act
        return act

    def gradcam():
        handle = layer.register_forward_hook(keep)
        try:
            logits = model(x)
        finally:
            handle.remove()
        act = store.pop('act')
        return act, torch.autograd.grad(logits[0, top], act)[0]

    return {'forward': median_ms(forward, runs), 'saliency': median_ms(saliency, runs),
            'gradcam': median_ms(gradcam, runs)}


def bench_methods(runs):
    torch.manual_seed(SEED)
    model = torchvision.models.resnet18(weights=None).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(SEED))
    with torch.no_grad():
        top = int(model(x)[0].argmax())
    noise_gen = torch.Generator().manual_seed(SEED)
    sigma = 0.15 * float(x.max() - x.min())

    def smoothgrad():
        xi = (x + torch.randn(25, 3, 224, 224, generator=noise_gen) * sigma).requires_grad_(True)
        grads = torch.autograd.grad(model(xi)[:, top].sum(), xi)[0]
        return grads.mean(0)

    nodes, weights = numpy_legendre(32)

    def ig():
        baseline = torch.zeros_like(x)
        alphas = torch.tensor(nodes, dtype=torch.float32).view(-1, 1, 1, 1)
        xi = (baseline + alphas * (x - baseline)).requires_grad_(True)
        grads = torch.autograd.grad(model(xi)[:, top].sum(), xi)[0]
        with torch.no_grad():
            model(baseline)
        w = torch.tensor(weights, dtype=torch.float32).view(-1, 1, 1, 1)
        return ((grads * w).sum(0, keepdim=True) * (x - baseline)).sum(1)

    store = {}
    handle_layer = model.layer4

    def keep(_m, _i, out):
        store['act'] = out

    def scorecam():
        with torch.no_grad():
            handle = handle_layer.register_forward_hook(keep)
            try:
                model(x)
            finally:
                handle.remove()
            act = store.pop('act')
            up = torch.nn.functional.interpolate(act, size=(224, 224), mode='bilinear', align_corners=False)[0]
            flat = up.view(up.shape[0], -1)
            lo, hi = flat.min(1)[0].view(-1, 1, 1), flat.max(1)[0].view(-1, 1, 1)
            masks = (up - lo) / (hi - lo + 1e-8)
            scores = []
            for i in range(0, masks.shape[0], 32):
                batch = x * masks[i:i + 32, None]
                scores.append(torch.softmax(model(batch), 1)[:, top])
            w = torch.softmax(torch.cat(scores), 0)
            return torch.relu((w.view(-1, 1, 1) * act[0]).sum(0))

    return {'smoothgrad': median_ms(smoothgrad, runs, warmup=1), 'ig': median_ms(ig, runs, warmup=1),
            'scorecam': median_ms(scorecam, max(1, runs // 2), warmup=1)}


def numpy_legendre(n):
    import numpy
    nodes, weights = numpy.polynomial.legendre.leggauss(n)
    return (nodes + 1) / 2, weights / 2


def main():
    parser = argparse.ArgumentParser(description='PyTorch CPU baseline timings (median ms).')
    parser.add_argument('--runs', type=int, default=10, help='timed runs per measurement (default 10)')
    parser.add_argument('--methods', action='store_true', help='also SmoothGrad-25, IG-32 and Score-CAM on resnet18')
    parser.add_argument('--large-runs', type=int, help='timed runs for vit_b_16 and convnext_tiny (default: --runs)')
    parser.add_argument('--threads', type=int, default=2, help='intra-op threads (default 2)')
    parser.add_argument('--models', default='resnet18,mobilenetv2', help='comma-separated keys (default resnet18,mobilenetv2)')
    args = parser.parse_args()
    keys = args.models.split(',')
    unknown = [k for k in keys if k not in {m[0] for m in MODELS}]
    if unknown:
        parser.error(f'unknown model(s) {", ".join(unknown)}')
    torch.set_num_threads(args.threads)
    large_runs = args.large_runs or args.runs
    result = {key: bench_model(key, large_runs if key in LARGE else args.runs) for key in keys}
    if args.methods:
        result['methods'] = bench_methods(args.runs)
    result['torch'] = torch.__version__
    # Which BLAS runs Linear/MatMul: Debian's build says "generic" (no MKL/OpenBLAS), far slower on transformers.
    config = torch.__config__.show()
    result['blas'] = next((part.split('=', 1)[1] for part in config.replace(',', ' ').split() if part.startswith('BLAS_INFO=')), 'unknown')
    result['threads'] = torch.get_num_threads()
    result['runs'] = args.runs
    result['largeRuns'] = large_runs
    print(json.dumps(result))


if __name__ == '__main__':
    main()
