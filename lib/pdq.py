"""PDQ perceptual hashes of images (Meta's PDQ, through the ``pdqhash`` package).

A PDQ hash is 256 bits, written here as 64 hex digits. Two images whose hashes differ in at most
``settings.PDQ_MATCH_DISTANCE`` bits (Hamming distance; ThreatExchange uses 31) are treated as the
same picture, which survives re-encoding, resizing and small edits. ``quality`` (0-100) says how
much structure the image has: below ~50 (flat or nearly blank images) hashes collide easily, so
such hashes are never used to refuse anything.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pdqhash
from PIL import Image, ImageOps

# PDQ works on a 64x64 luminance grid (it downsamples internally); hashing a 512-pixel copy gives
# the same bits while keeping a 40-megapixel upload from costing a full-size float buffer.
_WORKING_SIZE = 512
HASH_HEX_LENGTH = 64


@dataclass(frozen=True)
class PdqHash:
    hex: str
    quality: int


def pdq_of_bytes(data: bytes) -> PdqHash:
    """The PDQ hash of an encoded image (any format Pillow reads). Raises ``PIL.UnidentifiedImageError``
    or ``OSError`` for bytes that are not an image."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (_WORKING_SIZE, _WORKING_SIZE))  # JPEG: decode at a reduced scale
        image = ImageOps.exif_transpose(image)
        image = image.convert("RGB")
        image.thumbnail((_WORKING_SIZE, _WORKING_SIZE), Image.Resampling.BILINEAR)
        pixels = np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
    bits, quality = pdqhash.compute(pixels)
    return PdqHash(hex=bits_to_hex(bits), quality=int(quality))


def bits_to_hex(bits) -> str:
    """256 bits, first bit most significant, as 64 hex digits."""
    return np.packbits(np.asarray(bits).astype(bool)).tobytes().hex()


def normalize_hex(text: str) -> str:
    """A hash as 64 lower-case hex digits; raises ValueError for anything else."""
    value = (text or "").strip().lower()
    if len(value) != HASH_HEX_LENGTH or any(ch not in "0123456789abcdef" for ch in value):
        raise ValueError("a PDQ hash is 64 hexadecimal digits")
    return value


def hamming_distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
