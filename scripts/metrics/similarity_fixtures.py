"""Reference values for src/engine/metrics/similarity.ts: scipy.stats.spearmanr and
skimage.metrics.structural_similarity on small fixed arrays, written to test/fixtures/metrics/similarity.json.

Run with Debian's Python (its numpy matches Debian's scipy and skimage builds):
  apt-get install -y python3-scipy
  cd /tmp && apt-get download python3-skimage python3-skimage-lib
  dpkg-deb -x python3-skimage_*.deb /tmp/skimg && dpkg-deb -x python3-skimage-lib_*.deb /tmp/skimglib
  mkdir -p /tmp/skimg_all && cp -r /tmp/skimg/usr/lib/python3/dist-packages/skimage /tmp/skimg_all/ \
    && cp -rn /tmp/skimglib/usr/lib/python3/dist-packages/skimage/. /tmp/skimg_all/skimage/
  PYTHONPATH=/tmp/skimg_all:<a folder holding the pure-Python `packaging` module> \
    /usr/bin/python3 scripts/metrics/similarity_fixtures.py
SSIM is called with skimage's defaults for 2-D grey images (7x7 uniform window, K1=0.01, K2=0.03, sample
covariance) and data_range always passed explicitly: skimage 0.19 would otherwise take the float dtype's range (2).
"""
import json
import os

import numpy as np
import scipy
import skimage
from scipy.stats import spearmanr
from skimage.metrics import structural_similarity

rng = np.random.default_rng(12)


def as_map(a):
    a = np.asarray(a, dtype=np.float64)
    return {"width": int(a.shape[1]), "height": int(a.shape[0]), "data": [float(v) for v in a.ravel()]}


spearman_cases = []


def add_spearman(name, a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    rho = spearmanr(a.ravel(), b.ravel()).correlation
    rho_abs = spearmanr(np.abs(a).ravel(), np.abs(b).ravel()).correlation
    spearman_cases.append({"name": name, "a": as_map(a), "b": as_map(b), "rho": float(rho), "rhoAbsolute": float(rho_abs)})


add_spearman("3x3 with ties", [[1, 2, 2], [3, 3, 3], [0, 5, 4]], [[2, 2, 1], [4, 3, 3], [1, 7, 7]])
add_spearman("signed, ties in absolute values", [[-3, 1, 2, -1], [0, 3, -2, 2]], [[2, -1, 1, 0], [-1, 3, -3, 1]])
add_spearman("6x5 rounded noise", np.round(rng.normal(size=(5, 6)), 1), np.round(rng.normal(size=(5, 6)), 0))
a = rng.uniform(size=(7, 8))
add_spearman("7x8 monotone transform", a, np.exp(3 * a) - 2)
add_spearman("reversed", [[1, 2, 3], [4, 5, 6]], [[6, 5, 4], [3, 2, 1]])

ssim_cases = []


def add_ssim(name, a, b, data_range=None):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    given = data_range is not None
    if data_range is None:
        # Our default: max − min over both maps.
        data_range = float(max(a.max(), b.max()) - min(a.min(), b.min()))
    value = structural_similarity(a, b, data_range=data_range)
    case = {"name": name, "a": as_map(a), "b": as_map(b), "ssim": float(value)}
    if given:
        case["dataRange"] = data_range
    ssim_cases.append(case)


a = rng.uniform(size=(8, 9))
add_ssim("8x9 with noise, data_range 1", a, np.clip(a + rng.normal(scale=0.1, size=a.shape), 0, 1), 1.0)
a = np.round(rng.uniform(size=(10, 12)) * 4) / 4
add_ssim("10x12 quantized (ties), default range", a, np.round((a + rng.normal(scale=0.3, size=a.shape)) * 4) / 4)
a = rng.normal(size=(7, 7))
add_ssim("7x7 smallest, signed", a, -0.5 * a + rng.normal(scale=0.2, size=a.shape))
yy, xx = np.mgrid[0:11, 0:9]
add_ssim("11x9 blobs, data_range 2", np.exp(-((yy - 4) ** 2 + (xx - 3) ** 2) / 8), np.exp(-((yy - 6) ** 2 + (xx - 5) ** 2) / 10), 2.0)

out = {
    "source": f"scipy {scipy.__version__} spearmanr, skimage {skimage.__version__} structural_similarity (defaults, data_range explicit)",
    "spearman": spearman_cases,
    "ssim": ssim_cases,
}
path = os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "metrics", "similarity.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print(f"wrote {os.path.normpath(path)}: {len(spearman_cases)} spearman, {len(ssim_cases)} ssim cases")
