"""What the playground tells the browser to check before an upload: the server's own size limit
and formats (restoration.intake / ml.imageio), never a second list kept in the script."""

from __future__ import annotations

import json
import re

import pytest

from ml.imageio import ALLOWED_FORMATS
from restoration.dashboard import playground

pytestmark = pytest.mark.django_db


def checks_on_page(body: str) -> dict:
    return json.loads(re.search(r'<script id="upload-checks" type="application/json">(.*?)</script>', body).group(1))


def test_the_page_carries_the_servers_upload_limit(owner_client, org, settings):
    settings.MAX_UPLOAD_BYTES = 3 * 1024 * 1024
    body = owner_client.get("/jobs/new/").content.decode()
    checks = checks_on_page(body)
    assert checks["max_bytes"] == 3 * 1024 * 1024 and checks["max_text"] == "3 MB"
    assert "up to 3 MB each" in body


def test_the_formats_offered_are_the_ones_the_server_accepts(owner_client, org):
    body = owner_client.get("/jobs/new/").content.decode()
    checks = checks_on_page(body)
    assert {fmt["name"] for fmt in checks["formats"]} == set(ALLOWED_FORMATS)
    assert checks["formats_text"] == "PNG, JPEG, WEBP, BMP or TIFF"  # as the API's own error says
    assert "PNG, JPEG, WEBP, BMP or TIFF, up to 20 MB each" in body
    assert "JPEG, PNG or WebP" not in body
    accept = re.search(r'<input[^>]*name="images"[^>]*accept="([^"]+)"', body).group(1).split(",")
    assert {"image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff", ".tif"} <= set(accept)


def test_a_format_the_server_stops_accepting_is_no_longer_offered(monkeypatch):
    monkeypatch.setattr(playground, "ALLOWED_FORMATS", frozenset({"PNG", "JPEG"}))
    assert playground.formats_text() == "PNG or JPEG"
    assert "image/tiff" not in playground.accept_attribute()
