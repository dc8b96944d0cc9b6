"""Writes test/fixtures/photos/astronaut96.png: scikit-image's "astronaut" photo (NASA, public domain,
shipped in Debian's python3-skimage) scaled to 96x96, a real photo for the superpixel tests.

Get the source without installing skimage (from the repository root):
    cd /tmp && apt-get download python3-skimage && dpkg-deb -x python3-skimage_*.deb /tmp/skimg
    /usr/bin/python3 scripts/photos/write_photo_fixture.py
"""
import os
import sys

from PIL import Image

SOURCE = '/tmp/skimg/usr/lib/python3/dist-packages/skimage/data/astronaut.png'
OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'photos', 'astronaut96.png')

if not os.path.exists(SOURCE):
    sys.exit(f'{SOURCE} is missing; extract python3-skimage first (see this file\'s docstring)')
image = Image.open(SOURCE).convert('RGB').resize((96, 96), Image.LANCZOS)
image.save(OUT, optimize=True)
print(f'wrote {os.path.normpath(OUT)} ({os.path.getsize(OUT)} bytes)')
