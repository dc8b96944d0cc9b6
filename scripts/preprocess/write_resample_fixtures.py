"""Writes test/fixtures/resample/: Pillow's own Image.resize output, the reference that
src/engine/image/pipeline/pilResample.ts must reproduce bit for bit (test/unit/resample.test.ts).

For each source (a 150x100 crop of a scikit-image photo, decoded by PIL and converted to RGB) it saves the
crop and PIL's resize of it to a downscaled, an upscaled and a non-uniform size (width down, height up) with
all six filters (NEAREST, LANCZOS, BILINEAR, BICUBIC, BOX, HAMMING), every image as an RGB PNG (lossless; the
test decodes them with the engine's PNG decoder and checks the sha256 of the raw RGB bytes recorded in
manifest.json, so a decoding slip cannot pass as a resampling match).

Photos: scikit-image's "chelsea" (a cat, PNG) and "rocket" (a JPEG, decoded by PIL's libjpeg), shipped in
Debian's python3-skimage. Get them without installing skimage (from the repository root):
    cd /tmp && apt-get download python3-skimage && dpkg-deb -x python3-skimage_*.deb /tmp/skimg
Then, with Debian's Python (Pillow 9.4, numpy):
    /usr/bin/python3 scripts/preprocess/write_resample_fixtures.py
"""
import hashlib
import json
import os
import sys

import numpy as np
import PIL
from PIL import Image

DATA = '/tmp/skimg/usr/lib/python3/dist-packages/skimage/data'
OUT = os.path.normpath(os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'resample'))

# name -> (file, crop box left, top); the crops are 150x100, on detail (the cat's face, the rocket's gantry).
SOURCES = {'chelsea': ('chelsea.png', 170, 50), 'rocket': ('rocket.jpg', 240, 120)}
CROP = (150, 100)
# (kind, width, height): down in both axes, up in both, and width down with height up; for one photo also a
# size unchanged in one axis, where PIL skips that pass.
SIZES = [('down', 61, 43), ('up', 163, 109), ('mixed', 89, 121)]
ONE_PASS = [('width-kept', 150, 37), ('height-kept', 53, 100)]
# Our filter names (src/engine/image/pipeline/spec.ts Interpolation) -> Pillow's codes (Image.Resampling).
FILTERS = {'nearest': 0, 'lanczos': 1, 'bilinear': 2, 'bicubic': 3, 'area': 4, 'hamming': 5}


def save(image, name):
    """Saves an RGB image as PNG and returns its manifest entry (size and the sha256 of its raw RGB bytes)."""
    assert image.mode == 'RGB'
    image.save(os.path.join(OUT, name), optimize=True)
    raw = np.asarray(image, dtype=np.uint8).tobytes()
    return {'file': name, 'width': image.size[0], 'height': image.size[1], 'sha256': hashlib.sha256(raw).hexdigest()}


def main():
    if PIL.__version__ != '9.4.0':
        sys.exit(f'Pillow {PIL.__version__}: these fixtures pin Pillow 9.4.0 (Debian /usr/bin/python3)')
    os.makedirs(OUT, exist_ok=True)
    manifest = {'pillow': PIL.__version__, 'sources': []}
    for key, (file, left, top) in SOURCES.items():
        path = os.path.join(DATA, file)
        if not os.path.exists(path):
            sys.exit(f'{path} is missing; extract python3-skimage first (see this file\'s docstring)')
        crop = Image.open(path).convert('RGB').crop((left, top, left + CROP[0], top + CROP[1]))
        entry = {'name': key, 'photo': file, 'crop': [left, top, *CROP], 'source': save(crop, f'{key}.png'), 'outputs': []}
        for kind, w, h in SIZES + (ONE_PASS if key == 'chelsea' else []):
            for filt, code in FILTERS.items():
                out = crop.resize((w, h), code)
                entry['outputs'].append({'filter': filt, 'kind': kind, **save(out, f'{key}_{kind}_{filt}.png')})
        manifest['sources'].append(entry)
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump(manifest, f, indent=1)
        f.write('\n')
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f'wrote {OUT}: {len(os.listdir(OUT))} files, {total} bytes')


if __name__ == '__main__':
    main()
