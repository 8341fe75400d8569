"""restoration.intake: what counts as an image, before any job exists."""

from __future__ import annotations

import base64
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

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
