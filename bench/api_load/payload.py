"""The request the benchmark sends: one small valid PNG, base64 in a JSON body.

Two images (``--image``): ``shapes`` (the default) has the structure of a photo as far as PDQ is
concerned (quality well above ``PDQ_MIN_QUALITY``), so each submission runs the blocklist
statement the way a real upload does; ``gradient`` is the image of the runs before 2026-12-03
(PDQ quality 44: its hash is never matched, so the blocklist statement never ran), kept so that
figures can be compared with those runs.
"""

from __future__ import annotations

import base64
import io
import json
import random

GENERATE_PATH = "/codeformer-image-restoration/v1/codeformer/generate"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
DEFAULT_IMAGE = "shapes"


def tiny_png(size: int = 64) -> bytes:
    """A small gradient PNG: valid, decodable, a few hundred bytes."""
    from PIL import Image

    image = Image.new("RGB", (size, size))
    image.putdata([(x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256) for y in range(size) for x in range(size)])
    return _png(image)


def shapes_png(size: int = 64, *, seed: int = 4) -> bytes:
    """Overlapping coloured discs on a flat ground (the same bytes on every run): under 1 KB, and
    edges enough for a PDQ quality of 100."""
    from PIL import Image

    image = Image.new("RGB", (size, size), (120, 110, 100))
    _draw_discs(image, random.Random(seed), count=12, spans=(8, 2))
    return _png(image)


def photo_jpeg(width: int = 1600, height: int = 1200, *, seed: int = 4) -> bytes:
    """A photo-sized upload (1600x1200 JPEG, ~570 KB, the same bytes on every run): discs under
    grain, so that what grows with the upload (base64, decoding, hashing, the input write)
    weighs as it does for a customer's photo."""
    from PIL import Image

    ground = Image.new("RGB", (width, height), (120, 110, 100))
    _draw_discs(ground, random.Random(seed), count=60, spans=(10, 3))
    grain = Image.effect_noise((width, height), 40).convert("RGB")
    buffer = io.BytesIO()
    Image.blend(ground, grain, 0.15).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _draw_discs(image, rng: random.Random, *, count: int, spans: tuple[int, int]) -> None:
    """``count`` discs of random colours, each 1/spans[0] to 1/spans[1] of the image across."""
    from PIL import ImageDraw

    width, height = image.size
    draw = ImageDraw.Draw(image)
    for _ in range(count):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1 = x0 + rng.randrange(width // spans[0], width // spans[1])
        y1 = y0 + rng.randrange(height // spans[0], height // spans[1])
        draw.ellipse((x0, y0, x1, y1), fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))


IMAGES = {"shapes": shapes_png, "gradient": tiny_png, "photo": photo_jpeg}


def image_png(name: str = DEFAULT_IMAGE) -> bytes:
    return IMAGES[name]()


def _png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def generate_body(png: bytes) -> bytes:
    return json.dumps({"image_base64": base64.b64encode(png).decode("ascii")}).encode()


def generate_headers(api_key: str) -> dict[str, str]:
    return {"Content-Type": "application/json", KEY_HEADER: api_key}
