"""Reading the images users upload and writing the PNGs we return, without torch.

The web process calls ``probe_image_with_picture`` on every upload, so it must be cheap and safe on hostile
input: the pixel cap is checked from the header, before any pixel is decoded. The worker calls
``decode_image`` and gets numpy arrays in OpenCV's conventions (BGR, uint8 or uint16), which is
what the restoration models expect; ``encode_png`` is its inverse.

Every bad input raises ``ml.errors.InvalidImage`` with a message a user can read. Pillow's
``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay False (its default), or truncated files pass.
"""

from __future__ import annotations

import io
import re
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from ml.errors import InvalidImage

ALLOWED_FORMATS = frozenset({"PNG", "JPEG", "WEBP", "BMP", "TIFF"})

# Pillow reports multi-picture JPEGs (most phone photos) as MPO; they are JPEGs to the user.
_FORMAT_ALIASES = {"MPO": "JPEG"}
_EXIF_ORIENTATION = 0x0112
_TIFF_BITS_PER_SAMPLE = 258
_NOT_AN_IMAGE = "not an image, or not a supported format (PNG, JPEG, WEBP, BMP or TIFF)"
_CORRUPT = "image is truncated or corrupt"

# PIL.ImageOps.exif_transpose's operations, done on arrays so 16-bit data goes through too.
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


@dataclass(frozen=True)
class ImageInfo:
    """What the header says. ``width``/``height`` are after EXIF orientation (what users see);
    ``mode`` is Pillow's; ``bit_depth`` is bits per stored sample (1, 8 or 16)."""

    format: str
    width: int
    height: int
    mode: str
    has_alpha: bool
    bit_depth: int


@dataclass
class DecodedImage:
    """Decoded pixels: HxWx3 BGR, or HxW when the file stores one channel (gray or a gray
    palette). ``alpha`` is HxW with the pixels' dtype, or None. ``is_gray`` is also True for a
    colour image whose three channels are identical."""

    pixels: np.ndarray
    alpha: np.ndarray | None
    bit_depth: int
    is_gray: bool
    source_format: str


def probe_image(data: bytes, *, max_pixels: int) -> ImageInfo:
    """Validate an upload: supported format, pixel cap (before decoding), decodes completely."""
    image = _open(data, max_pixels)
    _load(image)
    return _describe(image, data)


@dataclass(frozen=True)
class ProbedImage:
    info: ImageInfo
    picture: Image.Image  # decoded, EXIF orientation not applied; a JPEG possibly at a reduced scale


def probe_image_with_picture(data: bytes, *, max_pixels: int, at_least: int) -> ProbedImage:
    """``probe_image``, keeping the decoded picture for the caller (the web process hashes it)
    instead of decoding the file a second time.

    A JPEG is decoded at the smallest DCT scale (1/2, 1/4 or 1/8) that keeps both sides at least
    ``at_least`` pixels (Pillow's ``draft``): libjpeg still decodes every coefficient of the
    file, so a truncated or corrupt JPEG fails here as it fails a full decode (300 truncated,
    overwritten and spliced JPEGs checked both ways gave the same verdict each). Other formats
    are decoded at full size. ``info`` describes the file (its full size), not the picture.
    """
    image = _open(data, max_pixels)
    size = image.size
    image.draft("RGB", (at_least, at_least))  # a no-op for every format but JPEG
    _load(image)
    return ProbedImage(info=_describe(image, data, size=size), picture=image)


def decode_image(data: bytes, *, max_pixels: int) -> DecodedImage:
    """Decode to arrays, EXIF orientation applied, alpha and 16-bit depth kept."""
    image = _open(data, max_pixels)
    _load(image)
    info = _describe(image, data)
    orientation = _orientation(image)
    if info.bit_depth == 16 and not image.mode.startswith("I"):
        # Pillow truncates 16-bit colour (and gray+alpha) to 8 bits; OpenCV keeps all 16.
        pixels, alpha = _decode_16bit_with_opencv(data, gray=_stores_gray(image, data))
    else:
        pixels, alpha = _pillow_arrays(image)
    pixels = _orient(pixels, orientation)
    alpha = None if alpha is None else _orient(alpha, orientation)
    return DecodedImage(
        pixels=pixels,
        alpha=alpha,
        bit_depth=16 if pixels.dtype == np.uint16 else 8,
        is_gray=_has_identical_channels(pixels),
        source_format=info.format,
    )


def encode_png(pixels: np.ndarray, alpha: np.ndarray | None = None) -> bytes:
    """PNG bytes of BGR (HxWx3) or gray (HxW) pixels, uint8 or uint16, with optional alpha."""
    _check_encodable(pixels, alpha)
    if pixels.dtype == np.uint16:
        return _png16(_rgb_samples(pixels, alpha))
    image = Image.fromarray(_rgb_samples(pixels, alpha))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# --- opening and checking ---------------------------------------------------------------------


def _open(data: bytes, max_pixels: int) -> ImageFile.ImageFile:
    if not data:
        raise InvalidImage("the file is empty")
    try:
        image = Image.open(io.BytesIO(data), formats=sorted(ALLOWED_FORMATS))
    except Image.DecompressionBombError as exc:
        # Pillow's own, larger cap fired while reading the header; report ours.
        raise InvalidImage(_too_many_pixels(_pixels_in_message(str(exc)), max_pixels)) from None
    except UnidentifiedImageError:
        raise InvalidImage(_NOT_AN_IMAGE) from None
    except Exception:  # Pillow's parsers raise many types on malformed headers
        raise InvalidImage(_CORRUPT) from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidImage("image has no pixels")
    if width * height > max_pixels:
        raise InvalidImage(_too_many_pixels(width * height, max_pixels))
    return image


def _load(image: ImageFile.ImageFile) -> None:
    try:
        image.load()
    except Exception:  # OSError for truncation, but malformed data raises others too
        raise InvalidImage(_CORRUPT) from None


def _too_many_pixels(count: int | None, limit: int) -> str:
    if count is None:
        return f"image has too many pixels; the limit is {limit:,}"
    return f"image has {count:,} pixels; the limit is {limit:,}"


def _pixels_in_message(message: str) -> int | None:
    match = re.search(r"\((\d+) pixels\)", message)
    return int(match.group(1)) if match else None


def _describe(image: ImageFile.ImageFile, data: bytes, *, size: tuple[int, int] | None = None) -> ImageInfo:
    # Called after load(): a PNG's eXIf chunk may follow the pixel data. ``size``: the file's
    # when the image was decoded at a reduced scale.
    width, height = size or image.size
    if _orientation(image) >= 5:  # orientations 5-8 swap the axes
        width, height = height, width
    return ImageInfo(
        format=_FORMAT_ALIASES.get(image.format or "", image.format or ""),
        width=width,
        height=height,
        mode=image.mode,
        has_alpha=_has_alpha(image),
        bit_depth=_bit_depth(image, data),
    )


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info


def _bit_depth(image: ImageFile.ImageFile, data: bytes) -> int:
    if image.mode == "1":
        return 1
    if image.mode.startswith("I;16"):
        return 16
    if image.format == "PNG" and image.mode != "P":
        # IHDR is the first chunk: 8-byte signature, length, type, width, height, bit depth.
        return 16 if data[24] == 16 else 8
    if image.format == "TIFF":
        bits = image.tag_v2.get(_TIFF_BITS_PER_SAMPLE, (8,))
        return 16 if max(bits if isinstance(bits, tuple) else (bits,)) == 16 else 8
    return 8


def _stores_gray(image: ImageFile.ImageFile, data: bytes) -> bool:
    # Pillow opens 16-bit gray+alpha PNGs as RGBA, so ask the PNG header (colour type 0 or 4).
    if image.format == "PNG":
        return data[25] in (0, 4)
    return image.mode in ("L", "LA")


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block should not reject an otherwise good photo
        return 1
    return value if value in _ORIENT else 1


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    if orientation in _ORIENT:
        array = _ORIENT[orientation](array)
    return np.ascontiguousarray(array)


# --- decoding to arrays -----------------------------------------------------------------------


def _pillow_arrays(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Arrays for every Pillow mode we accept: gray stays one channel, the rest becomes BGR."""
    mode = image.mode
    if mode.startswith("I"):
        return _sixteen_bit_gray(image), None
    if mode == "F":
        raise InvalidImage("floating-point images are not supported")
    if mode in ("1", "L", "LA", "La"):
        array = np.asarray(image.convert("LA" if _has_alpha(image) else "L"))
        return _split_alpha(array)
    array = np.asarray(image.convert("RGBA" if _has_alpha(image) else "RGB"))
    pixels, alpha = _split_alpha(array)
    pixels = pixels[..., ::-1]
    if mode in ("P", "PA") and _has_identical_channels(pixels):
        pixels = pixels[..., 0]  # a gray palette is a gray image
    return pixels, alpha


def _sixteen_bit_gray(image: Image.Image) -> np.ndarray:
    array = np.asarray(image)
    if image.mode == "I" and (array.min() < 0 or array.max() > 0xFFFF):
        raise InvalidImage("32-bit images are not supported")
    return array.astype(np.uint16)


def _split_alpha(array: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    if array.ndim == 3 and array.shape[2] == 2:
        return array[..., 0], array[..., 1]
    if array.ndim == 3 and array.shape[2] == 4:
        return array[..., :3], array[..., 3]
    return array, None


def _decode_16bit_with_opencv(data: bytes, *, gray: bool) -> tuple[np.ndarray, np.ndarray | None]:
    import cv2  # only this path needs OpenCV; keep it out of the web process's imports

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        raise InvalidImage(_CORRUPT)
    pixels, alpha = _split_alpha(array) if array.ndim == 3 else (array, None)
    if gray and pixels.ndim == 3:
        pixels = pixels[..., 0]  # OpenCV expands gray+alpha to BGRA
    return pixels, alpha


def _has_identical_channels(pixels: np.ndarray) -> bool:
    if pixels.ndim == 2:
        return True
    return bool(np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]))


# --- encoding ---------------------------------------------------------------------------------


def _check_encodable(pixels: np.ndarray, alpha: np.ndarray | None) -> None:
    if pixels.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"pixels must be uint8 or uint16, not {pixels.dtype}")
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
        raise ValueError(f"pixels must be HxW or HxWx3, not {pixels.shape}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError("pixels are empty")
    if alpha is not None and (alpha.shape != pixels.shape[:2] or alpha.dtype != pixels.dtype):
        raise ValueError("alpha must be HxW with the same dtype as pixels")


def _rgb_samples(pixels: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """HxWxC samples in PNG channel order: gray, gray+alpha, RGB or RGBA."""
    samples = pixels[..., None] if pixels.ndim == 2 else pixels[..., ::-1]
    if alpha is not None:
        samples = np.concatenate([samples, alpha[..., None]], axis=2)
    return np.ascontiguousarray(samples.squeeze(axis=2) if samples.shape[2] == 1 else samples)


# PNG colour type for a given number of channels (PNG spec, table 11.1).
_PNG_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}


def _png16(samples: np.ndarray) -> bytes:
    """A 16-bit PNG. Pillow cannot write 16-bit colour or gray+alpha, so we write it ourselves."""
    height, width = samples.shape[:2]
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    rows = samples.astype(">u2").view(np.uint8).reshape(height, width * channels * 2)
    # The "Sub" filter (type 1) stores each byte minus the same byte of the previous pixel,
    # which makes smooth photos compress far better than unfiltered rows.
    step = channels * 2
    filtered = rows.copy()
    filtered[:, step:] = rows[:, step:] - rows[:, :-step]
    scanlines = np.hstack([np.ones((height, 1), np.uint8), filtered])
    header = struct.pack(">IIBBBBB", width, height, 16, _PNG_COLOUR_TYPE[channels], 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _png_chunk(b"IHDR", header),
            _png_chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)),
            _png_chunk(b"IEND", b""),
        ]
    )


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload)
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)
