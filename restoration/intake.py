"""Turning what clients send (multipart files, base64 text, URLs) into validated ``ImageInput``.

Every image is checked the same way before any job exists: the byte size against
``settings.MAX_UPLOAD_BYTES`` (413), then ``ml.imageio.probe_image_with_picture``, which reads
the header, refuses more than ``settings.MAX_IMAGE_PIXELS`` before decoding anything
(decompression bombs) and then decodes every byte so truncated files are caught here rather than
in the worker; the PDQ hash the blocklist screening needs is taken from that decode.
"""

from __future__ import annotations

import binascii
import dataclasses
import hashlib
import os
import re
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from jobs.types import ImageInput
from lib import netfetch, pdq
from lib.slots import NoSlotFree, concurrency_slot
from ml.errors import InvalidImage
from ml.imageio import probe_image_with_picture
from restoration.errors import ImageTooLarge, InvalidImageInput, InvalidInput, TooManyFetches

_DATA_URI = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?:;[\w-]+=[\w.+-]+)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "BMP": "bmp", "TIFF": "tif"}
MAX_NAME_LENGTH = 200


def image_from_upload(upload: UploadedFile, *, field: str = "image") -> ImageInput:
    """A multipart file part."""
    if upload.size is not None and upload.size > settings.MAX_UPLOAD_BYTES:
        raise _too_large(field, upload.size)
    upload.seek(0)
    data = upload.read(settings.MAX_UPLOAD_BYTES + 1)
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise _too_large(field, len(data))
    return _validated(data, name=upload.name or "", field=field)


def image_from_bytes(data: bytes, *, name: str = "", field: str = "image") -> ImageInput:
    """Bytes the server already holds (a sample photo, an earlier job's input), checked like an upload."""
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise _too_large(field, len(data))
    return _validated(data, name=name, field=field)


def image_from_base64(text: object, *, field: str = "image_base64", name: str = "") -> ImageInput:
    """Base64 text, with or without a ``data:image/...;base64,`` prefix."""
    if not isinstance(text, str):
        raise InvalidInput(f"{field}: must be a base64 string.")
    payload = _DATA_URI.sub("", text.strip(), count=1)
    if not payload:
        raise InvalidInput(f"{field}: is empty.")
    # Refuse before decoding: base64 carries 3 bytes in every 4 characters. Whitespace does not
    # count, but only a text this long pays for the pass that takes it out.
    if len(payload) // 4 * 3 > settings.MAX_UPLOAD_BYTES + 3:
        payload = _WHITESPACE.sub("", payload)
        if len(payload) // 4 * 3 > settings.MAX_UPLOAD_BYTES + 3:
            raise _too_large(field, len(payload) // 4 * 3)
    data = _b64decode(payload, field=field)
    if len(data) > settings.MAX_UPLOAD_BYTES:
        raise _too_large(field, len(data))
    return _validated(data, name=name, field=field)


def image_from_url(url: object, *, organization, field: str = "image") -> ImageInput:
    """Fetch a public URL now, so a dead or unsafe URL is a 400 and nothing is created.

    The fetch holds one of the organization's ``IMAGE_FETCHES_PER_ORGANIZATION`` slots (429
    when none is free): a slow peer can hold a web worker for the whole fetch deadline, and no
    tenant may take every worker that way. Callers run the cheap checks (key, rate, balance)
    before this.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput(f"{field}: must be a URL string.")
    url = url.strip()
    if len(url) > 2000:
        raise InvalidInput(f"{field}: the URL is longer than 2000 characters.")
    timeout = settings.IMAGE_FETCH_TIMEOUT_S
    try:
        with concurrency_slot(
            f"image-fetch:{organization.pk}", limit=settings.IMAGE_FETCHES_PER_ORGANIZATION, ttl_s=2 * timeout + 5
        ):
            fetched = netfetch.fetch_public_bytes(url, max_bytes=settings.MAX_UPLOAD_BYTES, timeout=timeout)
    except NoSlotFree as exc:
        raise TooManyFetches(exc.limit) from None
    path = urlsplit(fetched.final_url).path
    image = _validated(fetched.data, name=unquote(os.path.basename(path)), field=field)
    return dataclasses.replace(image, source_url=url)


def fingerprint_of(image: ImageInput) -> str:
    """What identifies an image for an idempotent retry: its URL if it came by URL, else its bytes."""
    if image.source_url:
        return url_identity(image.source_url)
    return "sha256:" + hashlib.sha256(image.data).hexdigest()


def url_identity(url: str) -> str:
    """``fingerprint_of`` for an image that will come from ``url``, known before fetching it."""
    return "url:" + url.strip()


def _validated(data: bytes, *, name: str, field: str) -> ImageInput:
    if not data:
        raise InvalidImageInput(f"{field}: the file is empty.")
    try:
        probed = probe_image_with_picture(data, max_pixels=settings.MAX_IMAGE_PIXELS, at_least=pdq.WORKING_SIZE)
    except InvalidImage as exc:
        raise InvalidImageInput(f"{field}: {exc}.") from None
    info = probed.info
    # The PDQ hash from the decode that validated the file, not from a second one (an accepted
    # 1600x1200 JPEG went from 29.1 to 19.7 ms of web CPU); the same bits as pdq_of_bytes. An
    # image it cannot hash is hashed (or not) by the screening, as any other.
    try:
        hashed = pdq.pdq_of_picture(probed.picture)
    except (OSError, ValueError):
        hashed = None
    return ImageInput(
        data=data,
        name=_clean_name(name, info.format),
        width=info.width,
        height=info.height,
        format=info.format,
        pdq_hex=hashed.hex if hashed else "",
        pdq_quality=hashed.quality if hashed else 0,
    )


def _b64decode(payload: str, *, field: str) -> bytes:
    """Standard or URL-safe base64, padding optional; line-wrapped text (MIME, PEM) is taken too.

    Decoded strictly as it came first, and only if that fails again without whitespace: most
    clients send one unbroken line, and every pass over the text costs (for a 570 KB photo's
    760,000 characters, ``str.isprintable`` 1.3 ms, the whitespace regex ~2.5 ms, the decode
    itself 0.9 ms)."""
    try:
        return _strict_b64decode(payload)
    except ValueError:  # binascii.Error and UnicodeEncodeError are ValueErrors
        pass
    compact = _WHITESPACE.sub("", payload)
    if compact != payload:
        try:
            return _strict_b64decode(compact)
        except ValueError:
            pass
    raise InvalidInput(f"{field}: is not valid base64.")


_URL_SAFE = bytes.maketrans(b"-_", b"+/")


def _strict_b64decode(payload: str) -> bytes:
    data = payload.encode("ascii")
    if b"-" in data or b"_" in data:
        data = data.translate(_URL_SAFE)
    if len(data) % 4:
        data += b"=" * (-len(data) % 4)
    return binascii.a2b_base64(data, strict_mode=True)


def _clean_name(name: str, image_format: str) -> str:
    """A display name: the client's base name without path parts or control characters."""
    base = os.path.basename((name or "").replace("\\", "/"))
    base = "".join(ch for ch in base if ch.isprintable()).strip()[:MAX_NAME_LENGTH]
    return base or f"image.{_EXTENSIONS.get(image_format, 'png')}"


def _too_large(field: str, size: int) -> ImageTooLarge:
    return ImageTooLarge(f"{field}: {size:,} bytes is larger than the limit of {settings.MAX_UPLOAD_BYTES:,} bytes.")
