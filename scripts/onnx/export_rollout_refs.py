"""Attention rollout references for the tiny ViT fixtures in test/fixtures/onnx/tokens (rollout.ref.json, and
gradient-weighted rollout in gradRollout.ref.json), and two more fixtures: vit_gap.onnx, a ViT without a class
token whose head averages the patch tokens; vit_p16_4d.onnx, vit_p16 with its attention written as timm and
HuggingFace write it (probabilities [1, heads, T, T], not nn.MultiheadAttention's [heads, T, T]).

The ViTs vit_p16, vit_p8_reg and vit_p32 are rebuilt exactly as scripts/onnx/export_token_fixtures.py builds them
(same seeds; their logits are checked against the stored <name>.ref.json, so the weights are the ONNX files'.
torchvision's encoder blocks call nn.MultiheadAttention with need_weights=False; each block's attention
probabilities [heads, T, T] are captured by calling it with need_weights=True, average_attn_weights=False, and
checked against softmax(q k^T / sqrt(d)) recomputed by hand from the block's ln_1 output and in_proj weights.

Rollout (Abnar & Zuidema 2020; options as jacobgil/vit-explain's vit_rollout.py), in float64, full T x T matrices:
for each block, heads fused (mean | max | min); the floor(T^2 * discard) lowest entries of the fused matrix set to
zero except entry (0, 0) (vit-explain's protection of the class token; none without a class token);
A_hat = (A + I) / 2 with each row divided by its own sum; R = A_hat_L ... A_hat_1. The map is R[0, special:] (the
class token's row over the patches) or, without special tokens, the mean of R's rows. Discard ratios are checked to
cut between clearly separated weights, so float32 differences between PyTorch and ONNX Runtime cannot move the cut:
each case's ratio is the one nearest its target (in steps of 0.01) whose cut in every block has a gap of at least
MIN_CUT_GAP; the ratio used is stored.

Gradient-weighted rollout (Chefer et al. 2021b, "Generic Attention-model Explainability", ICCV 2021), in float64
(model and input cast to double), written to gradRollout.ref.json. Seed s over the logits (before the softmax):
one-hot of a class, or e_a - e_b for a contrast; y = s . logits. Per block b, input side first: A_b = attention
probabilities [heads, T, T] (all tokens, special ones first), G_b = dy/dA_b; Abar_b = mean over heads of
max(0, G_b * A_b); R = I_T, then R = R + Abar_b @ R. The map: R[0, skip:] (the class token's row over the patches)
or, without special tokens (skip 0), the mean of R's rows; raw values, row-major over the patch grid. The weights
nn.MultiheadAttention returns with need_weights=True are a copy autograd never reaches, so each block's attention
is written out by hand (attention_by_hand) and checked against those weights and against the block's own output.
The file holds, per fixture (vit_p16, vit_p16_4d (vit_p16's weights), vit_p8_reg, vit_p32, vit_gap), a list of
cases {name, input, seed, grid, skip, map}: the top class ({"class": c}), the lowest class and the top class
minus the second ({"contrast": [a, b]}); input {"closedForm": "tokenFixtureImage", "size": [H, W]} is the
closed-form image of export_token_fixtures.image() (test/fixtures/tokenImage.ts in TypeScript); grid [h, w];
skip the special tokens; map float32 values, h * w of them. The classes a seed names are checked to be at least
MIN_LOGIT_GAP from their neighbours in the ranking, so float32 cannot reorder them.

Run from the repository root (Debian python3-torch, python3-torchvision, python3-onnx):

    /usr/bin/python3 scripts/onnx/export_rollout_refs.py

Reruns write the same files. CI only reads them.
"""
import json
import math
import os
import sys
import warnings

sys.dont_write_bytecode = True
warnings.filterwarnings('ignore', category=UserWarning)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import onnx_helpers as H  # noqa: E402
import export_token_fixtures as T  # noqa: E402

CASES = [('mean', 0.0), ('max', 0.0), ('min', 0.0), ('mean', 0.5), ('max', 0.9)]
# The smallest gap allowed between the last discarded and the first kept weight (float32 weights near 0.05 differ
# between PyTorch and ONNX Runtime by about 1e-9).
MIN_CUT_GAP = 1e-6


class GapViT(T.TokenViT):
    """The tiny ViT without special tokens: the head reads the mean of the patch tokens."""

    def __init__(self, size, patch, hidden, heads, mlp, layers):
        super().__init__(size, patch, 0, hidden, heads, mlp, layers)
        self.encoder.pos_embedding = nn.Parameter(torch.empty(1, self.grid[0] * self.grid[1], hidden).normal_(std=0.02))
        del self.class_token

    def forward(self, x):
        return self.heads(self.encoder(self._process_input(x)).mean(dim=1))


GAP = ('vit_gap', 206, lambda: GapViT((64, 64), 16, hidden=16, heads=2, mlp=32, layers=2), (64, 64))


def attention_by_hand(mha, query):
    """nn.MultiheadAttention's self-attention written out, so that its probabilities A [B, heads, T, T] lie on the
    path to the output (the weights need_weights=True returns are a copy autograd never reaches). Returns the
    output and A."""
    b, t, e = query.shape
    heads = mha.num_heads
    qkv = nn.functional.linear(query, mha.in_proj_weight, mha.in_proj_bias)
    q, k, v = (part.reshape(b, t, heads, e // heads).permute(0, 2, 1, 3) for part in qkv.split(e, dim=-1))
    attention = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(e // heads), dim=-1)
    out = (attention @ v).permute(0, 2, 1, 3).reshape(b, t, e)
    return mha.out_proj(out), attention


class HeadsFirstAttention(nn.Module):
    """nn.MultiheadAttention's arithmetic on its own weights, with batch and heads on separate axes (timm's
    Attention): softmax(q k^T / sqrt(d)) is [B, heads, T, T]. `probabilities` keeps the last one."""

    def __init__(self, mha):
        super().__init__()
        self.mha = mha
        self.probabilities = None

    def forward(self, query, key, value, need_weights=False):
        out, attention = attention_by_hand(self.mha, query)
        self.probabilities = attention[0].detach()
        return out, None


def capture_attention(model, x):
    """Each block's attention probabilities [heads, T, T], input side first, and the logits."""
    weights = []
    blocks = list(model.encoder.layers)
    originals = []
    for block in blocks:
        mha = block.self_attention
        original = mha.forward
        originals.append((mha, original))

        def forward(query, key, value, need_weights=False, original=original, block=block, **kw):
            out, w = original(query, key, value, need_weights=True, average_attn_weights=False, **kw)
            weights.append(w[0].detach())
            check_recomputed(block, query, w[0])
            return out, None
        mha.forward = forward
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for mha, _ in originals:
            del mha.forward
    return weights, logits


def check_recomputed(block, ln1_out, captured):
    """softmax(q k^T / sqrt(d)) per head from ln_1's output and the in_proj weights equals what MHA returned."""
    mha = block.self_attention
    heads, dim = mha.num_heads, mha.embed_dim
    head_dim = dim // heads
    qkv = ln1_out[0].double() @ mha.in_proj_weight.double().t() + mha.in_proj_bias.double()
    q, k = qkv[:, :dim], qkv[:, dim:2 * dim]
    for h in range(heads):
        qh, kh = q[:, h * head_dim:(h + 1) * head_dim], k[:, h * head_dim:(h + 1) * head_dim]
        a = torch.softmax(qh @ kh.t() / math.sqrt(head_dim), dim=-1)
        assert torch.allclose(a, captured[h].double(), atol=1e-6), 'recomputed attention differs'


def fuse(att, fusion):
    a = att.double()
    return a.mean(0) if fusion == 'mean' else a.max(0)[0] if fusion == 'max' else a.min(0)[0]


def cut_gap(fused, discard):
    ordered = fused.reshape(-1).sort().values
    count = int(ordered.numel() * discard)
    return math.inf if count == 0 else float(ordered[count] - ordered[count - 1])


def clear_ratio(attentions, fusion, target):
    """The ratio nearest `target` whose cut is clear in every block."""
    for step in sorted(range(-10, 11), key=abs):
        ratio = round(target + step / 100, 2)
        if 0 <= ratio < 1 and all(cut_gap(fuse(a, fusion), ratio) >= MIN_CUT_GAP for a in attentions):
            return ratio
    raise AssertionError(f'{fusion}: no clear cut near {target}')


def rollout(attentions, fusion, discard, special):
    tokens = attentions[0].shape[-1]
    result = torch.eye(tokens, dtype=torch.float64)
    eye = torch.eye(tokens, dtype=torch.float64)
    for att in attentions:
        flat = fuse(att, fusion).reshape(-1).clone()
        count = int(flat.numel() * discard)
        if count:
            assert cut_gap(flat, discard) >= MIN_CUT_GAP, f'{fusion} {discard}: the cut falls between near ties'
            _, idx = flat.topk(count, largest=False)
            if special:
                idx = idx[idx != 0]
            flat[idx] = 0
        a_hat = (flat.reshape(tokens, tokens) + eye) / 2
        a_hat = a_hat / a_hat.sum(dim=-1, keepdim=True)
        result = a_hat @ result
    row = result[0] if special else result.mean(dim=0)
    return row[special:]


def references(model, x, special):
    attentions, logits = capture_attention(model, x)
    maps = []
    for fusion, target in CASES:
        ratio = clear_ratio(attentions, fusion, target) if target else 0.0
        maps.append({'headFusion': fusion, 'discardRatio': ratio, 'map': H.f32_list(rollout(attentions, fusion, ratio, special))})
    return attentions, logits, maps


def attention_with_gradients(model, x, seed_of):
    """Each block's attention probabilities A_b [heads, T, T] and dy/dA_b, input side first, with y = s . logits and
    s = seed_of(logits), all in float64 (model and input cast to double). A_b is checked against what
    nn.MultiheadAttention returns with need_weights=True, average_attn_weights=False, and the block's output
    against its own."""
    model = model.double()
    kept = []
    for block in model.encoder.layers:
        mha = block.self_attention
        original = mha.forward

        def forward(query, key, value, need_weights=False, original=original, mha=mha, **kw):
            out, attention = attention_by_hand(mha, query)
            expected, weights = original(query, key, value, need_weights=True, average_attn_weights=False, **kw)
            assert torch.allclose(attention, weights, rtol=0, atol=1e-12), 'attention differs from need_weights=True'
            assert torch.allclose(out, expected, rtol=0, atol=1e-12), 'attention output differs from the block\'s'
            attention.retain_grad()
            kept.append(attention)
            return out, None
        mha.forward = forward
    try:
        logits = model(x.double())
    finally:
        for block in model.encoder.layers:
            del block.self_attention.forward
    seed = seed_of(logits[0].detach())
    (logits[0] @ seed).backward()
    return [a[0].detach() for a in kept], [a.grad[0] for a in kept], logits[0].detach()


def grad_rollout(attentions, gradients, special):
    """Chefer et al. 2021b: Abar = mean over heads of max(0, G * A); R = I, then R += Abar @ R block by block;
    R[0, special:] (the class token's row), or without special tokens the mean of R's rows. Raw values."""
    tokens = attentions[0].shape[-1]
    result = torch.eye(tokens, dtype=torch.float64)
    for a, g in zip(attentions, gradients):
        result = result + (g * a).clamp(min=0).mean(dim=0) @ result
    return result[0, special:] if special else result.mean(dim=0)


def seed_vector(classes, sign=(1,)):
    """The seed s over the logits: sign[i] at the i-th class `classes(logits)` names, 0 elsewhere."""
    def seed_of(logits):
        s = torch.zeros_like(logits)
        for c, v in zip(classes(logits), sign):
            s[c] = v
        return s
    return seed_of


GRAD_CASES = [
    # (name, the seed's classes from the logits, signs)
    ('top class', lambda z: [int(z.argmax())], (1,)),
    ('lowest class', lambda z: [int(z.argmin())], (1,)),
    ('top minus second', lambda z: z.argsort(descending=True)[:2].tolist(), (1, -1)),
]
MIN_LOGIT_GAP = 1e-3  # the classes a seed names are clearly ranked: float32 cannot reorder them


def grad_rollout_cases(make, seed, size, special, grid, stored_logits):
    """gradRollout.ref.json's cases for one fixture model (rebuilt from its seed; logits checked against the
    float32 ones stored for its ONNX file)."""
    cases = []
    for name, classes, sign in GRAD_CASES:
        torch.manual_seed(seed)
        model = make().eval()
        attentions, gradients, logits = attention_with_gradients(model, T.image(*size), seed_vector(classes, sign))
        assert torch.allclose(logits.float(), torch.tensor(stored_logits), rtol=1e-5, atol=1e-5), 'not the ONNX file\'s weights'
        ranked = logits.sort(descending=True).values
        gaps = ranked[:-1] - ranked[1:]
        assert min(float(gaps[0]), float(gaps[1]), float(gaps[-1])) >= MIN_LOGIT_GAP, 'a named class nearly ties'
        picked = classes(logits)
        target = {'class': picked[0]} if len(picked) == 1 else {'contrast': picked}
        result = grad_rollout(attentions, gradients, special)
        assert result.numel() == grid[0] * grid[1]
        cases.append({'name': name, 'input': {'closedForm': 'tokenFixtureImage', 'size': list(size)}, 'seed': target,
                      'grid': list(grid), 'skip': special, 'map': H.f32_list(result)})
    return cases


def write_grad_rollout_refs(rollout_refs):
    """gradRollout.ref.json for the five ViT fixtures (vit_p16_4d: vit_p16's weights, so vit_p16's model)."""
    out = {}
    for name, seed, make, size, special, _layers, _blank in T.MODELS:
        if not name.startswith('vit'):
            continue
        with open(os.path.join(T.OUT_DIR, name + '.ref.json'), encoding='utf-8') as f:
            ref = json.load(f)
        out[name] = grad_rollout_cases(make, seed, size, special, ref['grid'], ref['logits'])
        if name == 'vit_p16':
            out[name + '_4d'] = grad_rollout_cases(make, seed, size, special, ref['grid'], rollout_refs[name + '_4d']['logits'])
    name, seed, make, size = GAP
    out[name] = grad_rollout_cases(make, seed, size, 0, make().grid, rollout_refs[name]['logits'])
    H.write_json(os.path.join(T.OUT_DIR, 'gradRollout.ref.json'), out)
    for name, cases in out.items():
        print(f'{name}: gradient-weighted rollout for ' + ', '.join(f"{c['name']} {c['seed']}" for c in cases))


def main():
    out = {}
    for name, seed, make, (height, width), special, _layers, _blank in T.MODELS:
        if not name.startswith('vit'):
            continue
        torch.manual_seed(seed)
        model = make().eval()
        attentions, logits, maps = references(model, T.image(height, width), special)
        with open(os.path.join(T.OUT_DIR, name + '.ref.json'), encoding='utf-8') as f:
            stored = json.load(f)['logits']
        # Asking for the weights takes another arithmetic path inside nn.MultiheadAttention: last-bit differences.
        assert torch.allclose(logits[0], torch.tensor(stored), rtol=1e-5, atol=1e-6), f'{name}: not the weights of {name}.onnx'
        out[name] = {'tokens': attentions[0].shape[-1], 'heads': attentions[0].shape[0], 'blocks': len(attentions),
                     'special': special, 'rollouts': maps}
        print(f'{name}: {len(attentions)} blocks of {tuple(attentions[0].shape)}')
    name, seed, make, (height, width) = GAP
    torch.manual_seed(seed)
    model = make().eval()
    x = T.image(height, width)
    onnx_path = os.path.join(T.OUT_DIR, name + '.onnx')
    H.export_onnx(model, x, onnx_path)
    attentions, logits, maps = references(model, x, 0)
    out[name] = {'tokens': attentions[0].shape[-1], 'heads': attentions[0].shape[0], 'blocks': len(attentions),
                 'special': 0, 'logits': H.f32_list(logits), 'rollouts': maps}
    print(f'{name}: {os.path.getsize(onnx_path)} bytes, {len(attentions)} blocks of {tuple(attentions[0].shape)}')

    name, seed, make, (height, width), special = T.MODELS[0][:5]
    torch.manual_seed(seed)
    model = make().eval()
    x = T.image(height, width)
    with torch.no_grad():
        expected = model(x)
    for block in model.encoder.layers:
        block.self_attention = HeadsFirstAttention(block.self_attention)
    with torch.no_grad():
        logits = model(x)
    assert torch.allclose(logits, expected, rtol=1e-5, atol=1e-6), 'heads-first attention changed the logits'
    attentions = [block.self_attention.probabilities for block in model.encoder.layers]
    onnx_path = os.path.join(T.OUT_DIR, name + '_4d.onnx')
    H.export_onnx(model, x, onnx_path)
    maps = []
    for fusion, target in CASES:
        ratio = clear_ratio(attentions, fusion, target) if target else 0.0
        maps.append({'headFusion': fusion, 'discardRatio': ratio, 'map': H.f32_list(rollout(attentions, fusion, ratio, special))})
    out[name + '_4d'] = {'tokens': attentions[0].shape[-1], 'heads': attentions[0].shape[0], 'blocks': len(attentions),
                         'special': special, 'logits': H.f32_list(logits), 'rollouts': maps}
    print(f'{name}_4d: {os.path.getsize(onnx_path)} bytes, {len(attentions)} blocks of {tuple(attentions[0].shape)}')
    H.write_json(os.path.join(T.OUT_DIR, 'rollout.ref.json'), out)
    write_grad_rollout_refs(out)


if __name__ == '__main__':
    main()
