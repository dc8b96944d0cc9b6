"""Writes the 1000 ImageNet-1k class names, in torchvision's order, to src/engine/model/imagenetClasses.json.

The names come from the torchvision that Debian ships (python3-torchvision, torchvision.models._meta),
so nothing is downloaded. The engine offers them for 1000-class models that have no labels file.

    /usr/bin/python3 scripts/onnx/export_imagenet_names.py
"""
import json
import os
import sys

sys.dont_write_bytecode = True

from torchvision.models._meta import _IMAGENET_CATEGORIES  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'src', 'engine', 'model', 'imagenetClasses.json')

assert len(_IMAGENET_CATEGORIES) == 1000
with open(OUT, 'w', encoding='utf-8') as f:
    json.dump(list(_IMAGENET_CATEGORIES), f, ensure_ascii=False, indent=0)
    f.write('\n')
print(f'{os.path.normpath(OUT)}: {len(_IMAGENET_CATEGORIES)} names')
