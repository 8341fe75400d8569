"""restoration.intake: what counts as an image, before any job exists."""

from __future__ import annotations

import base64
import io
from types import SimpleNamespace

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from lib.pdq import pdq_of_bytes
from restoration import intake
from restoration.errors import ImageTooLarge, InvalidImageInput, InvalidInput
from tests.restoration.conftest import bomb_png_bytes, jpeg_bytes, png_bytes


def test_base64_may_carry_a_data_uri_prefix_and_line_breaks():
    data = png_bytes(33, 21)
    wrapped = base64.encodebytes(data).decode()  # MIME style: a newline every 76 characters
    image = intake.image_from_base64("data:image/png;base64," + wrapped)
    assert (image.data, image.width, image.height, image.format) == (data, 33, 21, "PNG")
    assert image.name == "image.png"


@pytest.mark.parametrize("separator", [" ", "\t", "\r\n", "\u00a0", "\u2028"])
def test_base64_with_whitespace_inside_is_accepted(separator):
    data = png_bytes(33, 21)
    text = base64.b64encode(data).decode()
    spaced = separator.join(text[i : i + 10] for i in range(0, len(text), 10))
    assert intake.image_from_base64(spaced).data == data


@pytest.mark.parametrize("intruder", ["\ud800", "\udfff", "é", "\x00", "\u0660"])
def test_base64_with_a_character_outside_its_alphabet_is_invalid_input(intruder):
    text = base64.b64encode(png_bytes(33, 21)).decode()
    with pytest.raises(InvalidInput, match="not valid base64"):
        intake.image_from_base64(text[:40] + intruder + text[40:])


def test_url_safe_base64_without_padding_is_accepted():
    data = jpeg_bytes(20, 10)
    image = intake.image_from_base64(base64.urlsafe_b64encode(data).decode().rstrip("="))
    assert image.data == data and image.format == "JPEG"


@pytest.mark.parametrize("text", ["abc$", "data:image/png;base64,", "   ", 42, None, ["x"]])
def test_text_that_is_not_base64_is_invalid_input(text):
    with pytest.raises(InvalidInput):
        intake.image_from_base64(text)


def test_the_pixel_cap_applies_before_decoding(settings):
    with pytest.raises(InvalidImageInput, match="pixels"):
        intake.image_from_base64(base64.b64encode(bomb_png_bytes()).decode())
    settings.MAX_IMAGE_PIXELS = 100
    with pytest.raises(InvalidImageInput, match="limit is 100"):
        intake.image_from_base64(base64.b64encode(png_bytes(20, 20)).decode())


def test_upload_names_lose_their_path_and_control_characters():
    upload = SimpleUploadedFile("../../etc/\x00evil\nname.png", png_bytes(), content_type="image/png")
    assert intake.image_from_upload(upload).name == "evilname.png"


def test_an_upload_over_the_byte_cap_is_413(settings):
    settings.MAX_UPLOAD_BYTES = 50
    with pytest.raises(ImageTooLarge) as caught:
        intake.image_from_upload(SimpleUploadedFile("a.png", png_bytes(), content_type="image/png"))
    assert caught.value.status_code == 413


def test_the_fingerprint_is_the_url_for_fetched_images_and_the_bytes_otherwise(local_server):
    url = local_server.serve("/a.png", png_bytes())
    assert intake.fingerprint_of(intake.image_from_url(url, organization=SimpleNamespace(pk="org"))) == f"url:{url}"
    same = intake.fingerprint_of(intake.image_from_base64(base64.b64encode(png_bytes()).decode()))
    other = intake.fingerprint_of(intake.image_from_base64(base64.b64encode(png_bytes(10, 10)).decode()))
    assert same.startswith("sha256:") and same != other


def _photo_like(width: int, height: int, mode: str = "RGB") -> Image.Image:
    rng = np.random.default_rng(width * height)
    ground = np.linspace(0, 255, width, dtype=np.uint8)[None, :, None].repeat(height, 0).repeat(3, 2)
    pixels = np.clip(ground.astype(int) + rng.integers(-40, 40, (height, width, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).convert(mode)


def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _rotated_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6
    return exif


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(lambda: _encoded(_photo_like(1600, 1200), "JPEG", quality=90), id="jpeg-drafted-1/2"),
        pytest.param(lambda: _encoded(_photo_like(4200, 2200), "JPEG"), id="jpeg-drafted-1/4"),
        pytest.param(lambda: _encoded(_photo_like(300, 200), "JPEG"), id="jpeg-small"),
        pytest.param(lambda: _encoded(_photo_like(1300, 900, "L"), "JPEG"), id="jpeg-gray"),
        pytest.param(lambda: _encoded(_photo_like(1300, 900, "CMYK"), "JPEG"), id="jpeg-cmyk"),
        pytest.param(lambda: _encoded(_photo_like(1100, 1500), "JPEG", exif=_rotated_exif()), id="jpeg-exif-rotated"),
        pytest.param(lambda: _encoded(_photo_like(1200, 700), "JPEG", progressive=True), id="jpeg-progressive"),
        pytest.param(lambda: _encoded(_photo_like(700, 500, "RGBA"), "PNG"), id="png-rgba"),
        pytest.param(lambda: _encoded(_photo_like(700, 500), "WEBP"), id="webp"),
    ],
)
def test_intake_hashes_its_own_decode_to_the_bits_of_hashing_the_file(data):
    # The screening and the staff's blocklist tools hash files with pdq_of_bytes: intake's hash,
    # taken from the decode that validated the upload, must be the same, bit for bit.
    data = data()
    image = intake.image_from_bytes(data)
    expected = pdq_of_bytes(data)
    assert (image.pdq_hex, image.pdq_quality) == (expected.hex, expected.quality)


def test_a_fetched_image_keeps_its_hash_and_gets_its_url(monkeypatch):
    data = jpeg_bytes(40, 30)
    fetched = SimpleNamespace(data=data, final_url="https://images.example.com/a/photo.jpg")
    monkeypatch.setattr(intake.netfetch, "fetch_public_bytes", lambda url, **kwargs: fetched)
    image = intake.image_from_url("https://images.example.com/a/photo.jpg", organization=SimpleNamespace(pk=1))
    assert image.source_url == "https://images.example.com/a/photo.jpg" and image.name == "photo.jpg"
    assert image.pdq_hex == pdq_of_bytes(data).hex


def test_whitespace_does_not_count_against_the_size_limit(settings):
    data = png_bytes(33, 21)
    text = base64.b64encode(data).decode()
    wrapped = "\n".join(text[i : i + 4] for i in range(0, len(text), 4))  # a quarter more characters
    settings.MAX_UPLOAD_BYTES = len(data)
    assert intake.image_from_base64(wrapped).data == data
    settings.MAX_UPLOAD_BYTES = len(data) - 10
    with pytest.raises(ImageTooLarge):
        intake.image_from_base64(wrapped)


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda d: base64.b64encode(d).decode(), id="standard-padded"),
        pytest.param(lambda d: base64.b64encode(d).decode().rstrip("="), id="standard-unpadded"),
        pytest.param(lambda d: base64.urlsafe_b64encode(d).decode(), id="url-safe-padded"),
        pytest.param(lambda d: "  " + base64.b64encode(d).decode() + "\r\n", id="surrounded-by-whitespace"),
    ],
)
def test_each_base64_spelling_decodes_to_the_same_bytes(encode):
    data = jpeg_bytes(41, 29)
    assert intake.image_from_base64(encode(data)).data == data


@pytest.mark.parametrize("text", ["iVBO=w0K", "iVBORw0K\n=\n=x", "====", "A"])
def test_misplaced_padding_is_not_base64(text):
    with pytest.raises(InvalidInput, match="not valid base64"):
        intake.image_from_base64(text)
