"""Times PyTorch on CPU (2 threads) for the benchmark models, as a baseline for the ONNX engine.

For torchvision resnet18 and mobilenet_v2 (random weights from a fixed seed, eval mode, a random
1x3x224x224 input) it measures, after 2 warm-up runs, N timed runs of:
  forward   model(x) under torch.no_grad()
  saliency  forward with x.requires_grad, then torch.autograd.grad(logits[0, top], x)
  gradcam   forward with a hook keeping the target layer's output (layer4 / features), then
            torch.autograd.grad(logits[0, top], activation)
Parameters are frozen (requires_grad False), so autograd computes only the gradients asked for,
as the ONNX engine does. Prints median milliseconds as JSON.

    python3 scripts/onnx/torch_bench.py --runs 10
"""
import argparse
import json
import statistics
import time

import torch
import torchvision

SEED = 0
MODELS = [
    ('resnet18', torchvision.models.resnet18, 'layer4'),
    ('mobilenetv2', torchvision.models.mobilenet_v2, 'features'),
]


def median_ms(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def bench_model(build, cam_module, runs):
    torch.manual_seed(SEED)
    model = build(weights=None).eval()
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

    layer = getattr(model, cam_module)

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


def main():
    parser = argparse.ArgumentParser(description='PyTorch CPU baseline timings (median ms).')
    parser.add_argument('--runs', type=int, default=10, help='timed runs per measurement (default 10)')
    args = parser.parse_args()
    torch.set_num_threads(2)
    result = {name: bench_model(build, cam, args.runs) for name, build, cam in MODELS}
    result['torch'] = torch.__version__
    result['threads'] = torch.get_num_threads()
    result['runs'] = args.runs
    print(json.dumps(result))


if __name__ == '__main__':
    main()
