"""The request the benchmark sends: one small valid PNG, base64 in a JSON body."""

from __future__ import annotations

import base64
import io
import json

GENERATE_PATH = "/codeformer-image-restoration/v1/codeformer/generate"
KEY_HEADER = "Ocp-Apim-Subscription-Key"


def tiny_png(size: int = 64) -> bytes:
    """A small gradient PNG: valid, decodable, a few hundred bytes."""
    from PIL import Image

    image = Image.new("RGB", (size, size))
    image.putdata([(x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256) for y in range(size) for x in range(size)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def generate_body(png: bytes) -> bytes:
    return json.dumps({"image_base64": base64.b64encode(png).decode("ascii")}).encode()


def generate_headers(api_key: str) -> dict[str, str]:
    return {"Content-Type": "application/json", KEY_HEADER: api_key}
