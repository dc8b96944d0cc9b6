#!/usr/bin/python3
"""Writes the decoder fixtures of test/unit/imageFormats.test.ts into test/fixtures/images/.

Run with Debian's /usr/bin/python3 (python3-pil with WebP and libtiff, python3-numpy). The source photo is
skimage's astronaut (python3-skimage's data; extract it without installing:
  cd /tmp && apt-get download python3-skimage && dpkg-deb -x python3-skimage_*.deb /tmp/skimg
or pass another photo as the first argument). Every expected pixel is written by PIL or numpy here, never by
the decoders under test. Reruns write identical bytes.

  photo.png                  the 64x48 8-bit RGB source every 8-bit fixture is made from
  lossless.webp              photo.png, lossless: decodes to photo.png exactly
  lossy.webp, lossy.pil.png  photo.png at quality 80, and PIL's (libwebp's) own decode of it
  rgb8.tif                   photo.png as an 8-bit RGB TIFF (deflate)
  grey16.tif, grey16.npy     a 16-bit grey TIFF (PIL's I;16) and the uint16 array it holds (32x24, as all 16-bit ones)
  rgb16.tif, rgb16.npy       a 16-bit RGB TIFF (written here: PIL writes no 16-bit RGB) and its array
  rgb16.png                  the same 16-bit RGB array as a PNG (written here, for the same reason)
  near16-a.png, near16-b.png two 16-bit RGB PNGs whose samples differ only below 1/255 (k*257 -/+ 60: both round to k)
  near16.npy                 their arrays (16x12), stacked: shape (2, 12, 16, 3)
  orient-N.jpg               N = 1..8: the photo (48x32) stored turned so that EXIF orientation N shows it upright
  orient-upright.png         PIL's ImageOps.exif_transpose decode of each orient-N.jpg, stacked top to bottom (48x32 each)
  orient-stored.png          PIL's plain decode of each (as stored: 32x48 for N >= 5), each in a 48x48 black cell
  face.png                   the 48x32 upright photo of the orientation fixtures
  orient-6.webp/.png/.tif    face.png stored turned, losslessly, with EXIF orientation 6 (WebP EXIF chunk, PNG eXIf
                             chunk, TIFF tag 274): each shows face.png exactly once turned upright
  float32.tif                a 32-bit floating-point grey TIFF (microscopy exports): refused in one sentence
  photo.jpg, photo-p3.jpg    photo.png as one JPEG (quality 90), untagged and tagged with display-p3.icc: the same
                             scan data, so both decode to the same stored samples when the profile is ignored
  photo-p3.pil.png           PIL's convert('RGB') decode of photo-p3.jpg (PIL leaves the profile alone)
  rgb16-srgb.png/.tif        rgb16.npy's array tagged with littlecms' sRGB profile (PNG iCCP chunk, TIFF tag 34675):
                             sharp 0.35 left alone moves 16-bit samples tagged sRGB into Display P3

display-p3.icc is an input, not written here: libvips' built-in Display P3 profile (CC0), as sharp embeds it with
withIccProfile('p3'). Any profile other than sRGB would do: it only has to make a colour-managed decode differ.
"""
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image, ImageCms, ImageOps, features

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', '..', 'test', 'fixtures', 'images')
SOURCE = sys.argv[1] if len(sys.argv) > 1 else '/tmp/skimg/usr/lib/python3/dist-packages/skimage/data/astronaut.png'
W, H = 64, 48  # multiples of 16, so a JPEG's 4:2:0 blocks turn onto blocks

assert features.check('webp') and features.check('libtiff'), 'PIL needs WebP and libtiff support'
os.makedirs(OUT, exist_ok=True)


def out(name):
    return os.path.join(OUT, name)


# The astronaut's face, 64x48.
photo = Image.open(SOURCE).convert('RGB').crop((96, 16, 352, 208)).resize((W, H), Image.LANCZOS)
photo.save(out('photo.png'), optimize=True)
rgb8 = np.asarray(photo)

photo.save(out('lossless.webp'), lossless=True, quality=100, method=6)
photo.save(out('lossy.webp'), quality=80, method=6)
Image.open(out('lossy.webp')).convert('RGB').save(out('lossy.pil.png'), optimize=True)
photo.save(out('rgb8.tif'), compression='tiff_adobe_deflate')

# 16 bits (32x24: 16-bit noise does not compress): the photo's values spread over 16 bits with a fine pattern below 1/255.
small8 = np.asarray(photo.resize((32, 24), Image.LANCZOS))
yy, xx = np.mgrid[0:24, 0:32]
fine = ((xx * 37 + yy * 101) % 257).astype(np.uint32)
rgb16 = np.clip(small8.astype(np.uint32) * 257 + fine[..., None] * np.array([1, 3, 5]) % 257, 0, 65535).astype(np.uint16)
grey16 = rgb16[..., 1].copy()
Image.fromarray(grey16, mode='I;16').save(out('grey16.tif'), compression='tiff_adobe_deflate')
np.save(out('grey16.npy'), grey16)
np.save(out('rgb16.npy'), rgb16)


def tiff_rgb16(path, a, icc=None):
    """A little-endian, uncompressed, one-strip 16-bit RGB TIFF, with an ICC profile (tag 34675) when given."""
    h, w, c = a.shape
    pixels = a.astype('<u2').tobytes()
    entries = [  # tag, type (3 SHORT, 4 LONG, 7 UNDEFINED), count, value or offset
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
        (273, 4, 1, None), (277, 3, 1, 3), (278, 4, 1, h), (279, 4, 1, len(pixels)), (284, 3, 1, 1),
    ]
    if icc:
        entries.append((34675, 7, len(icc), None))
    ifd_at = 8
    ifd_size = 2 + 12 * len(entries) + 4
    bits_at = ifd_at + ifd_size
    pixels_at = bits_at + 6
    icc_at = pixels_at + len(pixels)
    body = struct.pack('<H', len(entries))
    for tag, typ, count, value in entries:
        if tag == 258:
            value = bits_at
        if tag == 273:
            value = pixels_at
        if tag == 34675:
            value = icc_at
        body += struct.pack('<HHI', tag, typ, count)
        body += struct.pack('<HH', value, 0) if typ == 3 and count == 1 else struct.pack('<I', value)
    body += struct.pack('<I', 0)
    with open(path, 'wb') as f:
        f.write(b'II*\0' + struct.pack('<I', ifd_at) + body + struct.pack('<HHH', 16, 16, 16) + pixels + (icc or b''))


def png_rgb16(path, a, icc=None):
    """A 16-bit RGB PNG (colour type 2), filter 0 on every row, with an iCCP chunk when given a profile."""
    h, w, _ = a.shape
    raw = b''.join(b'\0' + a[y].astype('>u2').tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)

    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, 2, 0, 0, 0))
                + (chunk(b'iCCP', b'ICC\0\0' + zlib.compress(icc, 9)) if icc else b'')
                + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))


tiff_rgb16(out('rgb16.tif'), rgb16)
png_rgb16(out('rgb16.png'), rgb16)

# Two images that differ only below 1/255: k*257 - 60 and k*257 + 60 round to the same 8-bit k.
k = np.clip(small8[:12, :16].astype(np.int32), 1, 254)
near = np.stack([k * 257 - 60, k * 257 + 60]).astype(np.uint16)
png_rgb16(out('near16-a.png'), near[0])
png_rgb16(out('near16-b.png'), near[1])
np.save(out('near16.npy'), near)

# EXIF orientations: store the photo turned by the inverse of what orientation N does, so every file shows it upright.
INVERSE = {1: None, 2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180, 4: Image.FLIP_TOP_BOTTOM, 5: Image.TRANSPOSE,
           6: Image.ROTATE_90, 7: Image.TRANSVERSE, 8: Image.ROTATE_270}
OW, OH = 48, 32
face = photo.resize((OW, OH), Image.LANCZOS)
upright = Image.new('RGB', (OW, OH * 8))
stored = Image.new('RGB', (OW, OW * 8))
for n in range(1, 9):
    turned = face if INVERSE[n] is None else face.transpose(INVERSE[n])
    exif = Image.Exif()
    exif[0x0112] = n
    name = out(f'orient-{n}.jpg')
    turned.save(name, quality=90, exif=exif.tobytes())
    with Image.open(name) as im:
        assert im.getexif().get(0x0112) == n
        stored.paste(im.convert('RGB'), (0, OW * (n - 1)))
        up = ImageOps.exif_transpose(im).convert('RGB')
        assert up.size == (OW, OH), (n, up.size)
        upright.paste(up, (0, OH * (n - 1)))
upright.save(out('orient-upright.png'), optimize=True)
face.save(out('face.png'), optimize=True)
exif6 = Image.Exif()
exif6[0x0112] = 6
turned6 = face.transpose(INVERSE[6])
turned6.save(out('orient-6.webp'), lossless=True, quality=100, exif=exif6.tobytes())
turned6.save(out('orient-6.png'), exif=exif6.tobytes())
turned6.save(out('orient-6.tif'), compression='tiff_adobe_deflate', tiffinfo={274: 6})
for name in ('orient-6.webp', 'orient-6.png', 'orient-6.tif'):
    with Image.open(out(name)) as im:
        assert im.getexif().get(0x0112) == 6, name
        # Pillow 9.4's exif_transpose leaves a TIFF as stored; the tag is checked above, the pixels by construction.
        if not name.endswith('.tif'):
            assert np.array_equal(np.asarray(ImageOps.exif_transpose(im).convert('RGB')), np.asarray(face)), name
Image.fromarray((np.arange(64, dtype=np.float32).reshape(8, 8) / 64), mode='F').save(out('float32.tif'))
stored.save(out('orient-stored.png'), optimize=True)

# ICC profiles: the same samples, tagged with a wide-gamut profile. PIL's convert('RGB') leaves them as stored.
with open(out('display-p3.icc'), 'rb') as f:
    p3 = f.read()
photo.save(out('photo.jpg'), quality=90)
photo.save(out('photo-p3.jpg'), quality=90, icc_profile=p3)
with Image.open(out('photo-p3.jpg')) as im:
    assert im.info.get('icc_profile') == p3
    im.convert('RGB').save(out('photo-p3.pil.png'), optimize=True)
srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile('sRGB')).tobytes()
png_rgb16(out('rgb16-srgb.png'), rgb16, srgb)
tiff_rgb16(out('rgb16-srgb.tif'), rgb16, srgb)

for name in sorted(os.listdir(OUT)):
    print(f'{os.path.getsize(out(name)):7d}  {name}')
