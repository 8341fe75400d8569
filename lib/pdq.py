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
from functools import cache
from itertools import combinations

import numpy as np
import pdqhash
from PIL import Image, ImageOps

# PDQ works on a 64x64 luminance grid (it downsamples internally); hashing a 512-pixel copy gives
# the same bits while keeping a 40-megapixel upload from costing a full-size float buffer.
WORKING_SIZE = 512
HASH_HEX_LENGTH = 64


@dataclass(frozen=True)
class PdqHash:
    hex: str
    quality: int


def pdq_of_bytes(data: bytes) -> PdqHash:
    """The PDQ hash of an encoded image (any format Pillow reads). Raises ``PIL.UnidentifiedImageError``
    or ``OSError`` for bytes that are not an image."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (WORKING_SIZE, WORKING_SIZE))  # JPEG: decode at a reduced scale
        return pdq_of_picture(image)


def pdq_of_picture(image: Image.Image) -> PdqHash:
    """The PDQ hash of an opened image, EXIF orientation not yet applied. For the same bits as
    ``pdq_of_bytes`` a JPEG must have been decoded as it does it (``draft("RGB", (WORKING_SIZE,
    WORKING_SIZE))``, what ``ml.imageio.probe_image_with_picture(at_least=WORKING_SIZE)`` does)."""
    image = ImageOps.exif_transpose(image)
    image = image.convert("RGB")
    image.thumbnail((WORKING_SIZE, WORKING_SIZE), Image.Resampling.BILINEAR)
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


# --- Multi-index hashing (Norouzi, Punjani and Fleet, "Fast search in Hamming space with
# multi-index hashing", CVPR 2012), as the blocklist match uses it. The 256 bits are 16 chunks of
# 16 bits, 4 hex digits each, every chunk indexed on its own. Two hashes at most ``distance``
# bits apart agree to within ``distance // 16`` bits on at least one chunk: if every chunk
# differed in more, they would differ in at least 16 * (distance // 16 + 1) > distance bits. So
# the rows worth comparing are those with some chunk among the probe's near variants of that
# chunk, which the indexes find without reading the others (16 x 17 keys for distance 31).
CHUNKS = 16
CHUNK_BITS = HASH_HEX_LENGTH * 4 // CHUNKS
CHUNK_HEX = CHUNK_BITS // 4


def chunk_radius(distance: int) -> int:
    """The largest difference, in bits, within one chunk that a match ``distance`` bits away must
    have somewhere (pigeonhole over the chunks)."""
    return distance // CHUNKS


def chunk_variants(hex_hash: str, *, radius: int) -> list[list[str]]:
    """For each chunk of ``hex_hash`` (in order), its digits and those of every value at most
    ``radius`` bits away from it: ``sum(comb(16, k) for k <= radius)`` strings a chunk."""
    flips = _flips(radius)
    variants = []
    for index in range(CHUNKS):
        value = int(hex_hash[index * CHUNK_HEX : (index + 1) * CHUNK_HEX], 16)
        variants.append([f"{value ^ mask:0{CHUNK_HEX}x}" for mask in flips])
    return variants


def chunk_variant_arrays(hex_hash: str, *, radius: int) -> list[str]:
    """``chunk_variants`` as PostgreSQL array literals, one per chunk (``{abcd,abcc,...}``, the
    same strings in the same order): what the blocklist statement takes. Built with one table
    look-up over all chunks at once, ~10x cheaper than formatting 272 strings one by one, which
    was 3% of a submission's CPU."""
    values = np.frombuffer(bytes.fromhex(hex_hash), dtype=">u2").astype(np.int64)
    masks = np.asarray(_flips(radius), dtype=np.int64)
    digits = _hex_digit_table()[values[:, None] ^ masks[None, :]]  # (chunks, variants, CHUNK_HEX) bytes
    cells = np.empty((CHUNKS, len(masks), CHUNK_HEX + 1), dtype=np.uint8)
    cells[:, :, :CHUNK_HEX] = digits
    cells[:, :, CHUNK_HEX] = ord(",")
    return ["{" + row.tobytes()[:-1].decode("ascii") + "}" for row in cells]


@cache
def _hex_digit_table() -> np.ndarray:
    """The CHUNK_HEX lower-case hex digits of every chunk value, as bytes: 65,536 x 4 (256 KB)."""
    return np.frombuffer(
        "".join(f"{value:0{CHUNK_HEX}x}" for value in range(1 << CHUNK_BITS)).encode("ascii"), dtype=np.uint8
    ).reshape(-1, CHUNK_HEX)


@cache
def _flips(radius: int) -> tuple[int, ...]:
    """The masks of every way to flip at most ``radius`` of a chunk's bits, no flip first."""
    return tuple(
        sum(1 << bit for bit in bits) for k in range(radius + 1) for bits in combinations(range(CHUNK_BITS), k)
    )
