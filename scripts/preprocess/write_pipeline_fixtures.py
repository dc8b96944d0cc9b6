#!/usr/bin/python3
"""Writes test/fixtures/pipelines: what each framework's own eval preprocessing makes of real photos, for
test/unit/pipelinePresets.test.ts, and a small torchvision CNN with its top-5 for pipelineAcceptance.test.ts.

Run from the repository root with Debian's /usr/bin/python3 (python3-torch 1.13, python3-torchvision 0.14,
python3-pil 9.4, python3-numpy, python3-onnx):

    cd /tmp && apt-get download python3-skimage && dpkg-deb -x python3-skimage_*.deb /tmp/skimg
    /usr/bin/python3 scripts/preprocess/write_pipeline_fixtures.py

The photos are scikit-image's sample data as Debian ships it (python3-skimage, extracted above, never
installed): chelsea.png (451x300, Stefan van der Walt, CC0) and rocket.jpg (640x427, SpaceX, public domain),
copied byte for byte into test/fixtures/pipelines/photos. Some cases use a rectangle of a photo
(`sourceCrop`, cut from the decoded pixels, here with PIL's Image.crop and in the test by slicing rows):
sizes chosen so that the centre-crop offset lands on .5, where torchvision (half to even), HuggingFace (floor)
and JavaScript's Math.round disagree.

What is stored, and why. A PIL-based pipeline is `uint8 image -> PIL resize -> crop -> one affine per
channel`, so the uint8 image after resize and crop holds everything the resampler decided; the test applies
the framework's affine (its parameters are in the manifest) to it. It is stored as `<case>.u8.png` (8-bit RGB,
lossless; checked here to read back identically), which keeps the directory near 1.5 MB with the photos
(a float32 224x224x3 tensor is 602 KB; the PNG of its uint8 image 40-95 KB). Each uint8 image is checked here
against the framework's own float output (`affineCheck` in the manifest: the largest |library output -
affine(uint8)| in float32, about 1e-7, i.e. float rounding only). `torchvision-chelsea` keeps the library's
float32 tensor itself instead (`<case>.f32.npy.gz`, HxWx3 NHWC .npy, gzip), so the test also compares against
torchvision's own numbers. Cases with the same uint8 image share one file.

References, per case (`reference` in the manifest):
  torchvision  the real torchvision.transforms Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize])
               on Image.open(p).convert('RGB'), torchvision 0.14 transforms/functional.py
  timm         not installed: the same torchvision transforms built exactly as timm's
               transforms_imagenet_eval does (timm/data/transforms_factory.py: scale_size =
               math.floor(img_size / crop_pct), Resize(scale_size, BICUBIC), CenterCrop(img_size),
               IMAGENET_DEFAULT_MEAN/STD from timm/data/constants.py), run for real
  keras-*      not installed: keras.utils.load_img(path, target_size) is PIL resize((w, h), NEAREST) after
               convert('RGB') (keras/src/utils/image_utils.py), then a numpy port of
               keras/src/applications/imagenet_utils.py _preprocess_numpy_input (modes caffe, tf, torch)
  hf-*         not installed: a numpy port of transformers' slow image processors (image_transforms.py
               resize / center_crop / rescale / normalize; models/vit, convnext and clip
               image_processing_*.py), reading the preprocessor_config.json written beside it
  acceptance   the real torchvision transforms, and the model run in torch

Crop boxes are in the pixels of the image the pipeline receives (after `sourceCrop`), as the framework
defines them: a resize to (rw, rh) followed by a crop at (left, top) of size (cw, ch) covers
x = left*W/rw, y = top*H/rh, width = cw*W/rw, height = ch*H/rh; a negative left/top is padding.

Reruns write byte-identical files. CI only reads them.
"""
import gzip
import hashlib
import io
import json
import math
import os
import shutil
import sys
import warnings

sys.dont_write_bytecode = True
import numpy as np  # noqa: E402
import PIL  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torchvision  # noqa: E402
import torchvision.transforms as T  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'pipelines')
SKIMAGE = '/tmp/skimg/usr/lib/python3/dist-packages/skimage/data'
PHOTOS = {'chelsea.png': 'chelsea.png', 'rocket.jpg': 'rocket.jpg'}

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
CAFFE_MEAN_BGR = [103.939, 116.779, 123.68]

MAX_TOTAL_BYTES = 1_700_000
MAX_ONNX_BYTES = 300 * 1024


def version_of(module):
    return getattr(module, '__version__', 'unknown')


VERSIONS = {
    'python': sys.version.split()[0],
    'torch': version_of(torch),
    'torchvision': version_of(torchvision),
    'Pillow': version_of(PIL),
    'numpy': version_of(np),
}


# ---------------------------------------------------------------------------------------------
# Photos and small helpers

def load_rgb(photo, source_crop=None):
    """The photo as every PIL-based pipeline starts: Image.open(p).convert('RGB'), optionally a rectangle of it."""
    img = Image.open(os.path.join(OUT, 'photos', photo)).convert('RGB')
    if source_crop:
        x, y, w, h = source_crop['x'], source_crop['y'], source_crop['width'], source_crop['height']
        img = img.crop((x, y, x + w, y + h))
    return img


def shorter_edge_size(w, h, size):
    """(width, height) after a shorter-edge resize: torchvision _compute_resized_output_size, HF
    get_resize_output_image_size (default_to_square=False) are the same formula."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def crop_box(w, h, resized, left, top, crop):
    """The crop in the pipeline's input pixels (see the module docstring)."""
    rw, rh = resized
    cw, ch = crop
    return {'x': left * w / rw, 'y': top * h / rh, 'width': cw * w / rw, 'height': ch * h / rh}


def whole(w, h):
    return {'x': 0.0, 'y': 0.0, 'width': float(w), 'height': float(h)}


def nchw_to_nhwc(t):
    return np.ascontiguousarray(t.numpy().transpose(1, 2, 0)).astype(np.float32)


def affine(u8, order, scale, mean, std):
    """(p*scale - mean)/std per channel in float32, channels reordered first when order is 'bgr'."""
    x = u8.astype(np.float32)
    if order == 'bgr':
        x = x[..., ::-1]
    return ((x * np.float32(scale) - np.array(mean, np.float32)) / np.array(std, np.float32)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# torchvision and timm: the real transforms

def torchvision_eval(img, resize_size, crop, interpolation, mean, std):
    """Runs Resize(resize_size, interpolation) + CenterCrop(crop) on the PIL image, and the full pipeline with
    ToTensor + Normalize; returns the uint8 crop, the library's float output (NHWC) and the crop box."""
    geometric = T.Compose([T.Resize(resize_size, interpolation=interpolation), T.CenterCrop(crop)])
    full = T.Compose([geometric, T.ToTensor(), T.Normalize(mean, std)])
    u8 = np.asarray(geometric(img))
    library = nchw_to_nhwc(full(img))
    w, h = img.size
    resized = shorter_edge_size(w, h, resize_size)
    # torchvision functional.center_crop: int(round((size - crop) / 2.0)), Python's round is half to even.
    left = int(round((resized[0] - crop) / 2.0))
    top = int(round((resized[1] - crop) / 2.0))
    assert left >= 0 and top >= 0, 'torchvision pads only when the crop is larger than the resized image'
    resized_u8 = np.asarray(T.Resize(resize_size, interpolation=interpolation)(img))
    assert resized_u8.shape[:2] == (resized[1], resized[0])
    assert np.array_equal(resized_u8[top:top + crop, left:left + crop], u8), 'the crop box formula disagrees with CenterCrop'
    return u8, library, crop_box(w, h, resized, left, top, (crop, crop)), resized


def torchvision_case(img, model):
    size = math.floor(model / 0.875)  # the preset's resize: 256 for 224 (torchvision's ImageNet eval)
    return torchvision_eval(img, size, model, T.InterpolationMode.BILINEAR, IMAGENET_MEAN, IMAGENET_STD)


def timm_case(img, model, crop_pct=0.875):
    # timm/data/transforms_factory.py transforms_imagenet_eval, crop_mode 'center', square img_size.
    scale_size = math.floor(model / crop_pct)
    return torchvision_eval(img, scale_size, model, T.InterpolationMode.BICUBIC, IMAGENET_MEAN, IMAGENET_STD)


# ---------------------------------------------------------------------------------------------
# Keras: load_img + imagenet_utils.preprocess_input, ported

def keras_load_img(img, target_hw):
    # keras/src/utils/image_utils.py load_img: color_mode 'rgb', interpolation 'nearest', keep_aspect_ratio False.
    return np.asarray(img.resize((target_hw[1], target_hw[0]), Image.NEAREST))


def keras_preprocess_input(u8, mode):
    # keras/src/applications/imagenet_utils.py _preprocess_numpy_input, data_format channels_last.
    x = u8.astype(np.float32)
    if mode == 'tf':
        x /= 127.5
        x -= 1.0
        return x
    if mode == 'torch':
        x /= 255.0
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        x = x[..., ::-1].copy()  # 'RGB'->'BGR'
        mean, std = CAFFE_MEAN_BGR, None
    for c in range(3):
        x[..., c] -= mean[c]
        if std is not None:
            x[..., c] /= std[c]
    return x


KERAS_AFFINES = {
    'caffe': {'order': 'bgr', 'scale': 1.0, 'mean': CAFFE_MEAN_BGR, 'std': [1.0, 1.0, 1.0]},
    'tf': {'order': 'rgb', 'scale': 1 / 127.5, 'mean': [1.0, 1.0, 1.0], 'std': [1.0, 1.0, 1.0]},
    'torch': {'order': 'rgb', 'scale': 1 / 255, 'mean': IMAGENET_MEAN, 'std': IMAGENET_STD},
}


# ---------------------------------------------------------------------------------------------
# HuggingFace slow image processors, ported (transformers is not installed)

def hf_resize(u8, hw, resample):
    # image_transforms.resize: to_pil_image (uint8 stays uint8), PIL resize((w, h), resample, reducing_gap=None).
    return np.asarray(Image.fromarray(u8).resize((hw[1], hw[0]), resample=resample, reducing_gap=None))


def hf_center_crop(u8, hw):
    """image_transforms.center_crop: floor offsets; a smaller image is zero-padded ceil(delta/2) before.
    Returns the crop and its (left, top) in the resized image (negative: padding)."""
    h, w = u8.shape[:2]
    ch, cw = hw
    top, left = (h - ch) // 2, (w - cw) // 2
    if top >= 0 and left >= 0 and top + ch <= h and left + cw <= w:
        return u8[top:top + ch, left:left + cw], left, top
    nh, nw = max(ch, h), max(cw, w)
    padded = np.zeros((nh, nw) + u8.shape[2:], u8.dtype)
    top_pad, left_pad = math.ceil((nh - h) / 2), math.ceil((nw - w) / 2)
    padded[top_pad:top_pad + h, left_pad:left_pad + w] = u8
    t, l_ = top + top_pad, left + left_pad
    out = padded[max(0, t):min(nh, t + ch), max(0, l_):min(nw, l_ + cw)]
    return out, l_ - left_pad, t - top_pad


def hf_rescale_normalize(u8, factor, mean, std):
    # image_transforms.rescale: astype(float64) * scale, then astype(float32); normalize in float32.
    x = (u8.astype(np.float64) * factor).astype(np.float32)
    return (x - np.array(mean, np.float32)) / np.array(std, np.float32)


def size_dict(size, default_to_square):
    # image_processing_utils.get_size_dict / convert_to_size_dict for an int or a dict.
    if isinstance(size, dict):
        return size
    return {'height': size, 'width': size} if default_to_square else {'shortest_edge': size}


def hf_slow_processor(img, cfg):
    """The slow processor the config names, on a PIL RGB image: (uint8 after resize/crop, float32 output,
    crop box, resized (w, h))."""
    kind = cfg.get('image_processor_type') or cfg.get('feature_extractor_type')
    u8 = np.asarray(img)
    w, h = img.size
    resample = cfg.get('resample', 3 if kind.startswith('CLIP') else 2)  # each processor's default
    if kind.startswith('ViT'):
        size = size_dict(cfg['size'], True)
        out = hf_resize(u8, (size['height'], size['width']), resample)
        resized = (size['width'], size['height'])
        box = whole(w, h)
    elif kind.startswith('ConvNext'):
        shortest = size_dict(cfg['size'], False)['shortest_edge']
        crop_pct = cfg.get('crop_pct', 224 / 256)
        if shortest < 384:
            resized = shorter_edge_size(w, h, int(shortest / crop_pct))
            out, left, top = hf_center_crop(hf_resize(u8, (resized[1], resized[0]), resample), (shortest, shortest))
            box = crop_box(w, h, resized, left, top, (shortest, shortest))
        else:
            resized = (shortest, shortest)
            out = hf_resize(u8, (shortest, shortest), resample)
            box = whole(w, h)
    elif kind.startswith('CLIP'):
        shortest = size_dict(cfg['size'], False)['shortest_edge']
        crop = size_dict(cfg['crop_size'], True)
        resized = shorter_edge_size(w, h, shortest)
        out, left, top = hf_center_crop(hf_resize(u8, (resized[1], resized[0]), resample), (crop['height'], crop['width']))
        box = crop_box(w, h, resized, left, top, (crop['width'], crop['height']))
    else:
        raise ValueError(f'no port of {kind}')
    factor = cfg.get('rescale_factor', 1 / 255)
    return out, hf_rescale_normalize(out, factor, cfg['image_mean'], cfg['image_std']), box, resized


# The configs, as the hub has them for these models (legacy int sizes for ViT and ConvNext-224, the newer
# dict form for the others), written beside each case for the TS reader.
HF_CONFIGS = {
    'hf-vit': {  # google/vit-base-patch16-224 (legacy: no do_rescale key, default True)
        'do_normalize': True, 'do_resize': True, 'feature_extractor_type': 'ViTFeatureExtractor',
        'image_mean': [0.5, 0.5, 0.5], 'image_std': [0.5, 0.5, 0.5], 'resample': 2, 'size': 224,
    },
    'hf-convnext-224': {  # facebook/convnext-tiny-224
        'crop_pct': 0.875, 'do_normalize': True, 'do_resize': True, 'feature_extractor_type': 'ConvNextFeatureExtractor',
        'image_mean': IMAGENET_MEAN, 'image_std': IMAGENET_STD, 'resample': 3, 'size': 224,
    },
    'hf-convnext-384': {  # facebook/convnext-base-384, newer form
        'crop_pct': 0.875, 'do_normalize': True, 'do_rescale': True, 'do_resize': True,
        'image_processor_type': 'ConvNextImageProcessor', 'image_mean': IMAGENET_MEAN, 'image_std': IMAGENET_STD,
        'resample': 3, 'rescale_factor': 0.00392156862745098, 'size': {'shortest_edge': 384},
    },
    'hf-clip': {  # openai/clip-vit-base-patch32, newer form
        'crop_size': {'height': 224, 'width': 224}, 'do_center_crop': True, 'do_convert_rgb': True,
        'do_normalize': True, 'do_rescale': True, 'do_resize': True, 'image_processor_type': 'CLIPImageProcessor',
        'image_mean': CLIP_MEAN, 'image_std': CLIP_STD, 'resample': 3, 'rescale_factor': 0.00392156862745098,
        'size': {'shortest_edge': 224},
    },
    'hf-clip-pad': {  # CLIP with a crop larger than the resized image: the zero-pad path (ceil(delta/2) before)
        'crop_size': {'height': 224, 'width': 224}, 'do_center_crop': True, 'do_convert_rgb': True,
        'do_normalize': True, 'do_rescale': True, 'do_resize': True, 'image_processor_type': 'CLIPImageProcessor',
        'image_mean': CLIP_MEAN, 'image_std': CLIP_STD, 'resample': 3, 'rescale_factor': 0.00392156862745098,
        'size': {'shortest_edge': 199},
    },
}

HF_CITE = ('numpy port of transformers slow processors: src/transformers/image_transforms.py (resize via PIL with '
           'reducing_gap=None, center_crop floor offset and ceil(delta/2) zero pad, rescale float64 then float32, '
           'normalize float32) and models/{vit,convnext,clip}/image_processing_*.py')


# ---------------------------------------------------------------------------------------------
# The cases

# Rectangles of the photos chosen for their crop offsets (see the module docstring).
CHELSEA_450 = {'x': 0, 'y': 0, 'width': 450, 'height': 299}   # 256-resize -> 385x256: offset 80.5 (80 / floor 80 / Math.round 81)
ROCKET_PORTRAIT = {'x': 178, 'y': 0, 'width': 285, 'height': 427}  # -> 256x383: vertical offset 79.5 (80 / floor 79)

CASES = [
    # id, photo, source crop, preset text, model input (h, w)
    ('torchvision-chelsea', 'chelsea.png', None, 'torchvision', 224),
    ('torchvision-chelsea-450x299', 'chelsea.png', CHELSEA_450, 'torchvision', 224),
    ('torchvision-rocket', 'rocket.jpg', None, 'torchvision', 224),
    ('torchvision-rocket-portrait', 'rocket.jpg', ROCKET_PORTRAIT, 'torchvision', 224),
    ('timm-chelsea', 'chelsea.png', None, 'timm', 224),
    ('timm-rocket-crop095', 'rocket.jpg', None, '{"preset":"timm","crop":{"fraction":0.95}}', 224),
    ('timm-chelsea-160', 'chelsea.png', None, 'timm', 160),
    ('keras-caffe-rocket', 'rocket.jpg', None, 'keras-caffe', 224),
    ('keras-tf-rocket', 'rocket.jpg', None, 'keras-tf', 224),
    ('keras-torch-rocket', 'rocket.jpg', None, 'keras-torch', 224),
    ('hf-vit', 'chelsea.png', None, 'huggingface', 224),
    ('hf-convnext-224', 'rocket.jpg', None, 'huggingface', 224),
    ('hf-convnext-384', 'rocket.jpg', None, 'huggingface', 384),
    ('hf-clip', 'chelsea.png', None, 'huggingface', 224),
    ('hf-clip-pad', 'chelsea.png', None, 'huggingface', 224),
]
FLOAT32_CASES = {'torchvision-chelsea'}  # the library's own float32 tensor is kept for these

TIMM_CITE = ('torchvision transforms built as timm/data/transforms_factory.py transforms_imagenet_eval does '
             '(scale_size = math.floor(img_size / crop_pct), Resize(scale_size, BICUBIC), CenterCrop(img_size), '
             'IMAGENET_DEFAULT_MEAN/STD), run for real; timm is not installed')
KERAS_CITE = ('PIL resize((w, h), NEAREST) after convert("RGB") as keras/src/utils/image_utils.py load_img does '
              '(interpolation "nearest", keep_aspect_ratio False), then a numpy port of '
              'keras/src/applications/imagenet_utils.py _preprocess_numpy_input mode "{mode}"; keras is not installed')


def run_case(case_id, photo, source_crop, preset, model):
    img = load_rgb(photo, source_crop)
    w, h = img.size
    if case_id.startswith('torchvision'):
        u8, library, box, resized = torchvision_case(img, model)
        aff = {'order': 'rgb', 'scale': 1 / 255, 'mean': IMAGENET_MEAN, 'std': IMAGENET_STD}
        ref = {'kind': 'library', 'what': 'torchvision.transforms Compose([Resize(%d), CenterCrop(%d), ToTensor(), '
               'Normalize(IMAGENET)]) on Image.open(p).convert("RGB")' % (resized_short(resized), model)}
    elif case_id.startswith('timm'):
        crop_pct = 0.95 if 'crop095' in case_id else 0.875
        u8, library, box, resized = timm_case(img, model, crop_pct)
        aff = {'order': 'rgb', 'scale': 1 / 255, 'mean': IMAGENET_MEAN, 'std': IMAGENET_STD}
        ref = {'kind': 'library', 'what': TIMM_CITE + f'; crop_pct {crop_pct}'}
    elif case_id.startswith('keras'):
        mode = case_id.split('-')[1]
        u8 = keras_load_img(img, (model, model))
        library = keras_preprocess_input(u8, mode)
        aff = KERAS_AFFINES[mode]
        box, resized = whole(w, h), (model, model)
        ref = {'kind': 'port', 'what': KERAS_CITE.format(mode=mode)}
    else:
        u8, library, box, resized = hf_slow_processor(img, HF_CONFIGS[case_id])
        cfg = HF_CONFIGS[case_id]
        aff = {'order': 'rgb', 'scale': cfg.get('rescale_factor', 1 / 255), 'mean': cfg['image_mean'], 'std': cfg['image_std']}
        ref = {'kind': 'port', 'what': HF_CITE}
    assert u8.dtype == np.uint8 and u8.shape == (model, model, 3), (case_id, u8.shape)
    assert library.shape == (model, model, 3)
    check = float(np.abs(affine(u8, aff['order'], aff['scale'], aff['mean'], aff['std']) - library).max())
    return {
        'id': case_id, 'photo': photo, 'sourceCrop': source_crop, 'imageSize': {'width': w, 'height': h},
        'preprocessing': preset, 'modelDir': f'hf/{case_id}' if case_id.startswith('hf-') else None,
        'input': {'height': model, 'width': model, 'channels': 3},
        'resized': {'width': resized[0], 'height': resized[1]}, 'cropBox': box, 'affine': aff,
        'reference': ref, 'affineCheck': check,
    }, u8, library


def resized_short(resized):
    return min(resized)


# ---------------------------------------------------------------------------------------------
# Acceptance: a small torchvision-style CNN, its ONNX export, and its top-5 on chelsea

class SmallCnn(nn.Module):
    """conv/bn/relu/pool, then a linear layer over a 7x7 grid (not a global average), so that a crop
    shifted by one pixel changes the probabilities well beyond the test's 1e-4."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),   # 56
            nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.BatchNorm2d(12), nn.ReLU(), nn.MaxPool2d(2),  # 14
            nn.AvgPool2d(2),  # 7
        )
        self.classifier = nn.Linear(12 * 7 * 7, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def acceptance():
    torch.manual_seed(14)
    model = SmallCnn()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    tv = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    img = load_rgb('chelsea.png')
    x = tv(img).unsqueeze(0)
    with torch.no_grad():
        logits = model(x)
        # Spread the logits (std about 2) so that the softmax is far from flat: scale the last layer.
        k = 2.0 / float(logits.std())
        model.classifier.weight.mul_(k)
        model.classifier.bias.mul_(k)
        probs = torch.softmax(model(x), 1)[0]
    top = torch.topk(probs, 5)
    path = os.path.join(OUT, 'acceptance.onnx')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(model, (x,), path, opset_version=13, do_constant_folding=True,
                          input_names=['input'], output_names=['logits'])
    assert os.path.getsize(path) < MAX_ONNX_BYTES, os.path.getsize(path)

    # How far wrong inputs move the probabilities: each must be far above the test's 1e-4, or the test
    # could not tell them apart from the right one.
    def max_delta(batch):
        with torch.no_grad():
            return float((torch.softmax(model(batch), 1)[0] - probs).abs().max())
    resized = T.Resize(256)(img)
    shifted = T.Compose([T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])(
        resized.crop((81, 16, 81 + 224, 16 + 224))).unsqueeze(0)
    pixels = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float()
    no_aa = T.functional.resize(pixels, [256, 384], antialias=False)
    no_aa = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(T.CenterCrop(224)(no_aa) / 255).unsqueeze(0)
    stretched = T.Compose([T.Resize((224, 224)), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])(img).unsqueeze(0)
    w, h = img.size
    return {
        'model': 'acceptance.onnx', 'photo': 'chelsea.png', 'preprocessing': 'torchvision',
        'input': {'layout': 'NCHW', 'shape': [1, 3, 224, 224]}, 'classes': 10, 'opset': 13,
        'top5': [[int(i), float(p)] for p, i in zip(top.values, top.indices)],
        'cropBox': crop_box(w, h, shorter_edge_size(w, h, 256), 80, 16, (224, 224)),
        'reference': 'torchvision.transforms Compose([Resize(256), CenterCrop(224), ToTensor(), Normalize(IMAGENET)]) '
                     'on Image.open("chelsea.png").convert("RGB"), model run in torch (float32), softmax',
        'neighbours': {
            'crop one pixel to the right': max_delta(shifted),
            'tensor resize without antialias': max_delta(no_aa),
            'stretch to 224x224 (no crop)': max_delta(stretched),
        },
    }


# ---------------------------------------------------------------------------------------------
# Writing

def save_png(name, u8):
    path = os.path.join(OUT, name)
    Image.fromarray(u8, 'RGB').save(path, 'PNG', optimize=True)
    assert np.array_equal(np.asarray(Image.open(path).convert('RGB')), u8), f'{name} does not read back'


def save_npy_gz(name, array):
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(gzip.compress(buf.getvalue(), compresslevel=9, mtime=0))  # mtime 0: reruns write the same bytes


def main():
    for photo in PHOTOS.values():
        if not os.path.exists(os.path.join(SKIMAGE, photo)):
            sys.exit(f'{SKIMAGE}/{photo} is missing; extract python3-skimage first (see this file\'s docstring)')
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(os.path.join(OUT, 'photos'))
    for name, source in PHOTOS.items():
        shutil.copyfile(os.path.join(SKIMAGE, source), os.path.join(OUT, 'photos', name))

    cases, stored = [], {}
    for case_id, photo, source_crop, preset, model in CASES:
        entry, u8, library = run_case(case_id, photo, source_crop, preset, model)
        entry['uint8'], entry['float32'] = None, None
        if case_id in FLOAT32_CASES:
            # The library's tensor says all the uint8 image would, and more.
            entry['float32'] = f'{case_id}.f32.npy.gz'
            save_npy_gz(entry['float32'], library)
        else:
            digest = hashlib.sha256(u8.tobytes()).hexdigest()
            if digest not in stored:
                stored[digest] = f'{case_id}.u8.png'
                save_png(stored[digest], u8)
            entry['uint8'] = stored[digest]
        if case_id.startswith('hf-'):
            d = os.path.join(OUT, 'hf', case_id)
            os.makedirs(d)
            with open(os.path.join(d, 'preprocessor_config.json'), 'w') as f:
                json.dump(HF_CONFIGS[case_id], f, indent=2, sort_keys=True)
                f.write('\n')
        cases.append(entry)
        print(f'{case_id:32s} {entry["imageSize"]["width"]}x{entry["imageSize"]["height"]} -> resized '
              f'{entry["resized"]["width"]}x{entry["resized"]["height"]}, box {fmt_box(entry["cropBox"])}, '
              f'affine check {entry["affineCheck"]:.3g}, {entry["uint8"] or entry["float32"]}')

    manifest = {
        'about': 'Written by scripts/preprocess/write_pipeline_fixtures.py; see its docstring. uint8 files are '
                 'PNGs of the RGB image after resize and crop (before the affine); float32 files are the model '
                 'input as a gzipped .npy, NHWC. '
                 'value = (pixel[order] * scale - mean) / std per channel. cropBox is in the pixels of the image '
                 'the pipeline receives (after sourceCrop).',
        'versions': VERSIONS,
        'cases': cases,
        'acceptance': acceptance(),
    }
    with open(os.path.join(OUT, 'README.md'), 'w') as f:
        f.write(README)
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')
    print('acceptance top-5', manifest['acceptance']['top5'])
    print('acceptance neighbours', manifest['acceptance']['neighbours'])
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f'wrote {os.path.relpath(OUT, ROOT)}: {total} bytes')
    assert total <= MAX_TOTAL_BYTES, f'{total} bytes is over the {MAX_TOTAL_BYTES} budget'


README = '''# Pipeline fixtures

Written by `scripts/preprocess/write_pipeline_fixtures.py` (its docstring says how to run it and what each file
is); CI only reads them. `manifest.json` lists every case: the photo (and rectangle of it), the pipeline text the
engine is given, the model input size, the framework's crop box in the photo's pixels, the affine, which
reference made it (the real torchvision/PIL call, or a port of Keras or HuggingFace, with the source cited) and
the package versions. Read by test/unit/pipelinePresets.test.ts and test/unit/pipelineAcceptance.test.ts.

- `photos/chelsea.png`: scikit-image's "chelsea" (Stefan van der Walt, CC0), as Debian's python3-skimage ships it.
- `photos/rocket.jpg`: scikit-image's "rocket" (DSCOVR launch, SpaceX, released into the public domain).
- `<case>.u8.png`: the 8-bit RGB image after the framework's resize and crop, before its affine.
- `<case>.f32.npy.gz`: the framework's own model input (float32, NHWC .npy, gzipped).
- `hf/<case>/preprocessor_config.json`: the HuggingFace configs the `hf-*` cases read.
- `acceptance.onnx`: a small seeded torchvision-style CNN (opset 13, NCHW 1x3x224x224, 10 classes); the
  manifest's `acceptance` holds its softmax top-5 on chelsea.png after torchvision's own transforms.
'''


def fmt_box(b):
    return '{x:.3f},{y:.3f} {width:.3f}x{height:.3f}'.format(**b)


if __name__ == '__main__':
    main()
