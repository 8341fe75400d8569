import io
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile, ImageOps

from ml import imageio
from ml.errors import InvalidImage
from ml.imageio import ALLOWED_FORMATS, decode_image, encode_png, probe_image_with_picture

CAP = 40_000_000


def probe_image(data: bytes, *, max_pixels: int):
    """The probe under test (``probe`` fixture): every probe assertion of this module holds for both."""
    return _probe(data, max_pixels=max_pixels)


_probe = imageio.probe_image


@pytest.fixture(autouse=True, params=["full decode", "with picture"])
def probe(request, monkeypatch):
    """Each test twice: with ``probe_image`` (a full decode) and with the web process's
    ``probe_image_with_picture`` (a JPEG decoded at a reduced scale), which must refuse and
    describe every file the same way."""
    if request.param == "with picture":

        def with_picture(data: bytes, *, max_pixels: int):
            return probe_image_with_picture(data, max_pixels=max_pixels, at_least=16).info

        monkeypatch.setitem(globals(), "_probe", with_picture)
    return request.param


def shared_dir() -> Path:
    default = Path(__file__).resolve().parents[2].parent / "shared"
    return Path(os.environ.get("SHARED_DIR", default))


def read_photo(name: str) -> bytes:
    path = shared_dir() / "testdata" / name
    if not path.is_file():
        pytest.skip(f"shared test photos not found at {path}")
    return path.read_bytes()


def pillow_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def gradient_rgb(width: int = 64, height: int = 48) -> Image.Image:
    """Distinct R, G and B ramps, so a channel swap or a flip changes the pixels."""
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.dstack([x, y, 255 - x]))


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def one_bit_png_bomb(width: int, height: int) -> bytes:
    """A real, valid 1-bit PNG of all-black rows: a few KB that would decode to width*height px."""
    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte 0, then packed bits
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def to_bgr(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))[..., ::-1]


# --- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(ALLOWED_FORMATS))
def test_it_probes_and_decodes_each_allowed_format(fmt):
    source = gradient_rgb()
    data = pillow_bytes(source, fmt)

    info = probe_image(data, max_pixels=CAP)
    decoded = decode_image(data, max_pixels=CAP)

    assert (info.format, info.width, info.height, info.has_alpha, info.bit_depth) == (fmt, 64, 48, False, 8)
    assert decoded.source_format == fmt
    assert decoded.pixels.shape == (48, 64, 3) and decoded.pixels.dtype == np.uint8
    # Lossy formats drift a little; a channel swap would be off by up to 255.
    tolerance = 0 if fmt in ("PNG", "BMP", "TIFF") else 12
    error = np.abs(decoded.pixels.astype(int) - to_bgr(source).astype(int))
    assert error.mean() <= tolerance


def test_it_returns_pixels_in_bgr_order():
    data = pillow_bytes(Image.new("RGB", (4, 3), (255, 10, 0)), "PNG")

    pixels = decode_image(data, max_pixels=CAP).pixels

    assert pixels[0, 0].tolist() == [0, 10, 255]


def test_a_multi_picture_phone_jpeg_counts_as_jpeg():
    first, second = Image.new("RGB", (20, 10), (255, 0, 0)), Image.new("RGB", (20, 10), (0, 0, 255))
    data = pillow_bytes(first, "MPO", save_all=True, append_images=[second])

    assert probe_image(data, max_pixels=CAP).format == "JPEG"
    assert decode_image(data, max_pixels=CAP).pixels[5, 5, 2] > 240  # the first picture: red


def test_it_rejects_a_format_outside_the_allowed_list():
    data = pillow_bytes(gradient_rgb(), "GIF")

    with pytest.raises(InvalidImage, match="not a supported format"):
        probe_image(data, max_pixels=CAP)


# --- EXIF orientation ------------------------------------------------------------------------


def test_it_applies_the_exif_rotation_of_a_jpeg():
    source = gradient_rgb(80, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    data = pillow_bytes(source, "JPEG", exif=exif, quality=95)

    info = probe_image(data, max_pixels=CAP)
    pixels = decode_image(data, max_pixels=CAP).pixels

    assert (info.width, info.height) == (40, 80)
    assert pixels.shape == (80, 40, 3)
    expected = to_bgr(source.transpose(Image.Transpose.ROTATE_270)).astype(int)
    assert np.abs(pixels.astype(int) - expected).mean() < 6


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillows_exif_transpose(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = pillow_bytes(gradient_rgb(6, 4), "PNG", exif=exif)

    pixels = decode_image(data, max_pixels=CAP).pixels

    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    np.testing.assert_array_equal(pixels, to_bgr(expected))


def test_it_rotates_16_bit_colour_images_too():
    pixels = np.arange(2 * 3 * 3, dtype=np.uint16).reshape(2, 3, 3) * 3000
    exif = Image.Exif()
    exif[0x0112] = 8
    # Our encoder writes no EXIF; append an eXIf chunk before IEND, as cameras' PNG tools do.
    plain = encode_png(pixels)
    data = plain[:-12] + png_chunk(b"eXIf", exif.tobytes()) + plain[-12:]

    decoded = decode_image(data, max_pixels=CAP)

    np.testing.assert_array_equal(decoded.pixels, np.rot90(pixels, 1))


# --- 16-bit -----------------------------------------------------------------------------------


def test_a_16_bit_gray_png_from_pillow_decodes_exactly():
    gray = np.random.default_rng(1).integers(0, 65536, (30, 20), dtype=np.uint16)
    data = pillow_bytes(Image.fromarray(gray), "PNG")

    decoded = decode_image(data, max_pixels=CAP)

    assert probe_image(data, max_pixels=CAP).bit_depth == 16
    assert (decoded.bit_depth, decoded.is_gray, decoded.alpha) == (16, True, None)
    np.testing.assert_array_equal(decoded.pixels, gray)


def test_a_16_bit_colour_png_from_opencv_decodes_exactly_in_bgr():
    bgr = np.random.default_rng(2).integers(0, 65536, (30, 20, 3), dtype=np.uint16)
    data = cv2.imencode(".png", bgr)[1].tobytes()

    decoded = decode_image(data, max_pixels=CAP)

    assert (decoded.bit_depth, decoded.is_gray) == (16, False)
    np.testing.assert_array_equal(decoded.pixels, bgr)


def test_a_16_bit_colour_tiff_keeps_its_depth():
    bgr = np.random.default_rng(3).integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    data = cv2.imencode(".tiff", bgr)[1].tobytes()

    np.testing.assert_array_equal(decode_image(data, max_pixels=CAP).pixels, bgr)


@pytest.mark.parametrize("shape", [(30, 20), (30, 20, 3)], ids=["gray", "colour"])
@pytest.mark.parametrize("with_alpha", [False, True], ids=["opaque", "alpha"])
def test_16_bit_pngs_round_trip_exactly(shape, with_alpha):
    rng = np.random.default_rng(4)
    pixels = rng.integers(0, 65536, shape, dtype=np.uint16)
    alpha = rng.integers(0, 65536, shape[:2], dtype=np.uint16) if with_alpha else None

    decoded = decode_image(encode_png(pixels, alpha), max_pixels=CAP)

    assert decoded.bit_depth == 16
    np.testing.assert_array_equal(decoded.pixels, pixels)
    if with_alpha:
        np.testing.assert_array_equal(decoded.alpha, alpha)
    else:
        assert decoded.alpha is None


def test_our_16_bit_png_reads_the_same_in_opencv():
    bgra = np.random.default_rng(5).integers(0, 65536, (9, 7, 4), dtype=np.uint16)

    data = encode_png(bgra[..., :3], bgra[..., 3])

    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), bgra)


# --- modes and alpha --------------------------------------------------------------------------


def test_rgba_with_real_transparency_survives_a_round_trip():
    photo = decode_image(read_photo("whole_imgs/06.png"), max_pixels=CAP)
    ramp = np.linspace(0, 255, photo.pixels.shape[1], dtype=np.uint8)
    alpha = np.broadcast_to(ramp, photo.pixels.shape[:2]).copy()

    decoded = decode_image(encode_png(photo.pixels, alpha), max_pixels=CAP)

    assert probe_image(encode_png(photo.pixels, alpha), max_pixels=CAP).has_alpha
    np.testing.assert_array_equal(decoded.pixels, photo.pixels)
    np.testing.assert_array_equal(decoded.alpha, alpha)


def test_a_palette_with_transparency_becomes_bgr_with_alpha():
    image = Image.new("P", (4, 2), 0)
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((1, 0), 1)
    data = pillow_bytes(image, "PNG", transparency=0)

    decoded = decode_image(data, max_pixels=CAP)

    assert probe_image(data, max_pixels=CAP).has_alpha
    assert decoded.pixels[0, 1].tolist() == [255, 0, 0]
    assert decoded.alpha[0].tolist() == [0, 255, 0, 0]


def test_a_gray_palette_decodes_to_one_channel():
    image = Image.new("P", (5, 3), 0)
    image.putpalette([value for level in range(256) for value in (level, level, level)])
    image.putpixel((2, 1), 200)

    decoded = decode_image(pillow_bytes(image, "PNG"), max_pixels=CAP)

    assert decoded.pixels.shape == (3, 5) and decoded.is_gray
    assert decoded.pixels[1, 2] == 200


def test_a_one_bit_image_decodes_to_8_bit_gray():
    image = Image.new("1", (8, 2), 0)
    image.putpixel((3, 1), 1)
    data = pillow_bytes(image, "PNG")

    decoded = decode_image(data, max_pixels=CAP)

    assert probe_image(data, max_pixels=CAP).bit_depth == 1
    assert (decoded.pixels.dtype, decoded.bit_depth, decoded.is_gray) == (np.uint8, 8, True)
    assert decoded.pixels[1, 3] == 255 and decoded.pixels.sum() == 255


def test_gray_with_alpha_keeps_both_channels():
    gray = np.full((4, 6), 90, np.uint8)
    alpha = np.tile(np.arange(0, 240, 40, dtype=np.uint8), (4, 1))
    data = pillow_bytes(Image.fromarray(np.dstack([gray, alpha])), "PNG")

    decoded = decode_image(data, max_pixels=CAP)

    np.testing.assert_array_equal(decoded.pixels, gray)
    np.testing.assert_array_equal(decoded.alpha, alpha)


def test_a_cmyk_jpeg_becomes_bgr():
    data = pillow_bytes(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95)

    decoded = decode_image(data, max_pixels=CAP)

    assert decoded.pixels.shape == (16, 16, 3)
    blue, green, red = decoded.pixels[8, 8].astype(int)
    assert red > 200 and green < 60 and blue < 60


def test_8_bit_colour_round_trips_exactly():
    photo = decode_image(read_photo("cropped_faces/0143.png"), max_pixels=CAP)

    again = decode_image(encode_png(photo.pixels), max_pixels=CAP)

    np.testing.assert_array_equal(again.pixels, photo.pixels)


def test_encode_png_refuses_arrays_it_cannot_represent():
    with pytest.raises(ValueError, match="uint8 or uint16"):
        encode_png(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="alpha"):
        encode_png(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint16))


# --- real photos ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "width", "height", "fmt"),
    [
        ("cropped_faces/0143.png", 512, 512, "PNG"),
        ("cropped_faces/0342.png", 512, 512, "PNG"),
        ("whole_imgs/00.jpg", 491, 310, "JPEG"),
        ("whole_imgs/04.jpg", 225, 225, "JPEG"),
        ("whole_imgs/02.png", 1204, 645, "PNG"),
    ],
)
def test_it_reads_the_shared_photos(name, width, height, fmt):
    data = read_photo(name)

    info = probe_image(data, max_pixels=CAP)
    decoded = decode_image(data, max_pixels=CAP)

    assert (info.format, info.width, info.height) == (fmt, width, height)
    assert decoded.pixels.shape == (height, width, 3)
    assert decoded.is_gray is False


def test_an_opaque_alpha_channel_is_kept_not_dropped():
    decoded = decode_image(read_photo("whole_imgs/02.png"), max_pixels=CAP)

    assert decoded.alpha is not None and decoded.alpha.shape == (645, 1204)
    assert (decoded.alpha == 255).all()


def test_a_photo_stored_as_three_identical_channels_is_gray():
    decoded = decode_image(read_photo("gray_faces/Hepburn01.png"), max_pixels=CAP)

    assert decoded.is_gray and decoded.pixels.shape == (512, 512, 3)


def test_a_sepia_photo_is_not_gray():
    assert not decode_image(read_photo("cropped_faces/Solvay_conference_1927_0018.png"), max_pixels=CAP).is_gray


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["whole_imgs/00.jpg", "cropped_faces/0240.png"])
def test_a_truncated_photo_is_rejected(name):
    data = read_photo(name)

    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        probe_image(data[: len(data) * 2 // 3], max_pixels=CAP)
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        decode_image(data[: len(data) * 2 // 3], max_pixels=CAP)


def test_random_bytes_are_not_an_image():
    data = np.random.default_rng(6).integers(0, 256, 4096, dtype=np.uint8).tobytes()

    with pytest.raises(InvalidImage, match="not an image"):
        probe_image(data, max_pixels=CAP)


def test_empty_bytes_are_rejected():
    with pytest.raises(InvalidImage, match="empty"):
        decode_image(b"", max_pixels=CAP)


def test_a_zero_width_image_is_rejected():
    info_header = struct.pack("<IiiHHIIiiII", 40, 0, 5, 1, 24, 0, 0, 2835, 2835, 0, 0)
    data = b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info_header

    with pytest.raises(InvalidImage):
        probe_image(data, max_pixels=CAP)


def test_a_decompression_bomb_is_rejected_from_its_header_without_decoding(monkeypatch):
    data = one_bit_png_bomb(8000, 8000)  # 64 megapixels in a few KB
    loads = []
    original_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self.size) or original_load(self))

    with pytest.raises(InvalidImage, match="image has 64,000,000 pixels; the limit is 40,000,000"):
        probe_image(data, max_pixels=CAP)
    with pytest.raises(InvalidImage, match="64,000,000 pixels"):
        decode_image(data, max_pixels=CAP)
    assert len(data) < 20_000
    assert loads == []


def test_a_bomb_past_pillows_own_cap_gets_the_same_message():
    data = one_bit_png_bomb(20000, 20000)

    with pytest.raises(InvalidImage, match="image has 400,000,000 pixels; the limit is 40,000,000"):
        probe_image(data, max_pixels=CAP)


def test_an_image_at_the_cap_is_accepted():
    data = pillow_bytes(Image.new("L", (100, 50)), "PNG")

    assert probe_image(data, max_pixels=5000).width == 100
    with pytest.raises(InvalidImage, match="5,000 pixels; the limit is 4,999"):
        probe_image(data, max_pixels=4999)


def test_the_picture_of_a_jpeg_is_decoded_at_the_smallest_scale_that_keeps_the_size_asked_for():
    data = pillow_bytes(gradient_rgb(1600, 1200), "JPEG")

    probed = probe_image_with_picture(data, max_pixels=CAP, at_least=512)

    assert (probed.info.width, probed.info.height) == (1600, 1200)
    assert probed.picture.size == (800, 600)  # 1/2: 1/4 would make the height 300
    png = probe_image_with_picture(pillow_bytes(gradient_rgb(1600, 1200), "PNG"), max_pixels=CAP, at_least=512)
    assert png.picture.size == (1600, 1200)
