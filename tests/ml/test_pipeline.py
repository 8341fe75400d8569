"""The whole pipeline on the shared photos and variants made from them (RGBA, 16-bit, grey,
rotated by EXIF), with random-weight checkpoints in the official formats.

RetinaFace with random weights "finds" thousands of boxes in any image, so whole-image tests
inject landmarks instead: the faces of aligned test images placed into a real photo (as the
parity fixture does), or none at all (``landmarks=()``) for the no-face path. The detection
plumbing is tested with a stand-in detector that returns known rows.
"""

from __future__ import annotations

import dataclasses
import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from ml.errors import InvalidImage, ModelNotEnabled, RestorationFailed
from ml.face import geometry
from ml.face.paste import parse_mask, paste_face, paste_faces
from ml.imageio import decode_image
from ml.models.codeformer import CodeFormerRestorer
from ml.models.parsenet import FaceParser
from ml.models.realesrgan import BackgroundUpsampler
from ml.models.retinaface import FaceDetector
from ml.options import RestoreOptions
from ml.pipeline import RestorationPipeline
from tests.ml.test_geometry import place_face

pytestmark = pytest.mark.slow
NO_FACES = ()  # injected: "this image has no face"


def read(testdata, name: str, flags=cv2.IMREAD_COLOR) -> np.ndarray:
    image = cv2.imread(str(testdata / name), flags)
    assert image is not None, name
    return image


def png_bytes(pixels: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", pixels)
    assert ok
    return encoded.tobytes()


def decoded_png(data: bytes):
    return decode_image(data, max_pixels=100_000_000)


def two_faces_in_a_photo(testdata):
    """The group photo 02.png with two aligned test faces placed into it: one near the
    centre, one near the left edge, and the 5 landmarks of each."""
    photo = read(testdata, "whole_imgs/02.png")
    size = (photo.shape[1], photo.shape[0])
    masks, landmarks = [], []
    for name, angle, center in (("0143.png", 0.0, (610, 330)), ("0240.png", 15.0, (230, 300))):
        face = read(testdata, f"cropped_faces/{name}")
        placed, mask, points = place_face(face, canvas_size=size, angle=angle, scale=0.45, center=center)
        photo[mask] = placed[mask]
        masks.append(mask)
        landmarks.append(points.tolist())
    return photo, masks, landmarks


@pytest.fixture(scope="module")
def two_face_result(pipeline, testdata):
    photo, masks, landmarks = two_faces_in_a_photo(testdata)
    options = RestoreOptions(fidelity=0.5, upscale=1, landmarks=landmarks)
    return photo, masks, pipeline.restore_array(photo, options)


# --- models and failures ------------------------------------------------------------------------


def test_a_model_that_is_not_enabled_is_refused(weights_dir, manifest, testdata):
    only_codeformer = RestorationPipeline(weights_dir=weights_dir, device="cpu", manifest=manifest)
    face = read(testdata, "cropped_faces/0143.png")

    with pytest.raises(ModelNotEnabled, match="gfpgan"):
        only_codeformer.restore_array(face, RestoreOptions(model="gfpgan", has_aligned=True))
    with pytest.raises(ModelNotEnabled, match="unknown"):
        RestorationPipeline(weights_dir=weights_dir, enabled_models=("codeformer", "dalle"), manifest=manifest)


def test_an_exception_inside_restoration_fails_the_job(pipeline, testdata, monkeypatch):
    def broken_forward(self, faces, fidelity):
        raise RuntimeError("simulated kernel failure")

    monkeypatch.setattr(CodeFormerRestorer, "_forward", broken_forward)
    face = read(testdata, "cropped_faces/0143.png")

    with pytest.raises(RestorationFailed, match="simulated kernel failure"):
        pipeline.restore_array(face, RestoreOptions(has_aligned=True))


def test_a_non_finite_restoration_is_never_returned(pipeline, testdata, monkeypatch):
    monkeypatch.setattr(CodeFormerRestorer, "_forward", lambda self, faces, fidelity: faces * torch.nan)
    face = read(testdata, "cropped_faces/0143.png")

    with pytest.raises(RestorationFailed, match="non-finite"):
        pipeline.restore_array(face, RestoreOptions(has_aligned=True))


# --- aligned faces ------------------------------------------------------------------------------


def test_an_aligned_face_is_restored_at_the_requested_size(pipeline, testdata):
    data = (testdata / "cropped_faces" / "0342.png").read_bytes()
    stages = []
    pipeline.warmup()  # a worker loads every model once, at start

    result = pipeline.restore(data, RestoreOptions(has_aligned=True, upscale=2), on_progress=stages.append)

    output = decoded_png(result.png)
    assert (result.width, result.height, result.faces) == (1024, 1024, 1)
    assert output.pixels.shape == (1024, 1024, 3)
    assert stages == ["decode", "align", "restore", "encode"]
    assert result.timings["forward"] > 0
    assert result.timings["load"] == 0  # nothing is loaded again per job
    # The restored face is the network's output, not the input scaled up.
    scaled_input = cv2.resize(read(testdata, "cropped_faces/0342.png"), (1024, 1024))
    assert np.abs(output.pixels.astype(float) - scaled_input).mean() > 5


def test_fidelity_changes_the_result(pipeline, testdata):
    face = read(testdata, "cropped_faces/0143.png")

    faithful = pipeline.restore_array(face, RestoreOptions(has_aligned=True, fidelity=1.0, upscale=1))
    generative = pipeline.restore_array(face, RestoreOptions(has_aligned=True, fidelity=0.0, upscale=1))

    assert faithful.image.shape == generative.image.shape == (512, 512, 3)
    assert np.abs(faithful.image.astype(float) - generative.image).mean() > 1


def test_a_grey_photo_stays_grey(pipeline, testdata):
    gray = read(testdata, "gray_faces/Hepburn01.png", cv2.IMREAD_GRAYSCALE)

    result = pipeline.restore(png_bytes(gray), RestoreOptions(has_aligned=True, upscale=1))

    output = decoded_png(result.png)
    assert output.pixels.shape == (512, 512)
    assert result.image.ndim == 2


@pytest.mark.parametrize("model", ["gfpgan", "restoreformer"])
def test_the_alternative_models_restore_with_the_same_helper(pipeline, testdata, model):
    face = read(testdata, "cropped_faces/0240.png")

    result = pipeline.restore_array(face, RestoreOptions(has_aligned=True, model=model, upscale=1))

    assert result.faces == 1 and result.image.shape == (512, 512, 3)
    assert np.abs(result.image.astype(float) - face).mean() > 5


# --- whole images -------------------------------------------------------------------------------


def test_several_faces_are_restored_and_pasted_in_place(two_face_result):
    photo, masks, result = two_face_result

    assert result.faces == 2 and len(result.cropped_faces) == 2
    assert result.image.shape == photo.shape
    changed = np.abs(result.image.astype(int) - photo).sum(axis=2) > 0
    faces = masks[0] | masks[1]
    for mask in masks:
        assert changed[mask].mean() > 0.5  # each face region was replaced
    assert not changed[~cv2.dilate(faces.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)].any()


def test_on_cpu_the_networks_take_one_face_at_a_time(pipeline, testdata, monkeypatch):
    # A batch buys no speed on CPU, and each face in it adds to the job's peak memory.
    batches = []

    def restore(self, faces, fidelity):
        batches.append(("restore", len(faces)))
        return faces

    def parse(self, faces):
        batches.append(("parse", len(faces)))
        return torch.zeros((len(faces), 512, 512), dtype=torch.int64)

    monkeypatch.setattr(CodeFormerRestorer, "_forward", restore)
    monkeypatch.setattr(FaceParser, "_labels", parse)
    photo, _, landmarks = two_faces_in_a_photo(testdata)

    result = pipeline.restore_array(photo, RestoreOptions(upscale=1, landmarks=landmarks))

    assert result.faces == 2
    assert batches == [("restore", 1), ("restore", 1), ("parse", 1), ("parse", 1)]


def test_only_the_centre_face_is_restored_when_asked(pipeline, testdata, two_face_result):
    photo, masks, _ = two_face_result
    _, _, landmarks = two_faces_in_a_photo(testdata)
    options = RestoreOptions(fidelity=0.5, upscale=1, landmarks=landmarks, only_center_face=True)

    result = pipeline.restore_array(photo, options)

    assert result.faces == 1
    assert np.array_equal(result.image[masks[1]], photo[masks[1]])  # the side face is untouched
    changed = np.abs(result.image[masks[0]].astype(int) - photo[masks[0]]).sum(axis=1) > 0
    assert changed.mean() > 0.5  # the centre face was restored


def test_a_photo_without_faces_gets_upscaled_with_its_alpha_and_16_bits(pipeline, testdata):
    photo = read(testdata, "whole_imgs/06.png", cv2.IMREAD_UNCHANGED)
    photo = cv2.resize(photo, (300, 346), interpolation=cv2.INTER_AREA)  # keeps the detector quick
    bgra16 = photo.astype(np.uint16) * 257
    height, width = photo.shape[:2]
    bgra16[:, :, 3] = np.linspace(0, 65535, width, dtype=np.uint16)[None, :]  # real transparency
    stages = []

    options = RestoreOptions(upscale=2, landmarks=NO_FACES)

    result = pipeline.restore(png_bytes(bgra16), options, on_progress=stages.append)

    output = decoded_png(result.png)
    assert result.faces == 0
    assert stages == ["decode", "detect", "align", "background", "paste", "encode"]
    assert output.bit_depth == 16 and output.pixels.shape == (2 * height, 2 * width, 3)
    assert output.alpha is not None and output.alpha.shape == (2 * height, 2 * width)
    # The alpha gradient survives (upscaled), and so does the 16-bit colour precision.
    assert abs(int(output.alpha[:, 0].mean()) - 0) < 300 and abs(int(output.alpha[:, -1].mean()) - 65535) < 300
    assert np.any(output.pixels % 257 != 0)
    expected = cv2.resize(bgra16[:, :, :3], (2 * width, 2 * height), interpolation=cv2.INTER_AREA).astype(float)
    assert np.abs(output.pixels - expected).mean() < 2 * 257


def test_the_background_model_enhances_a_small_photo_without_faces(pipeline, testdata):
    photo = cv2.resize(read(testdata, "whole_imgs/04.jpg"), (72, 60), interpolation=cv2.INTER_AREA)
    options = RestoreOptions(upscale=3, background_enhance=True, landmarks=NO_FACES)

    enhanced = pipeline.restore_array(photo, options)
    plain = pipeline.restore_array(photo, dataclasses.replace(options, background_enhance=False))

    assert enhanced.image.shape == plain.image.shape == (180, 216, 3)
    assert enhanced.timings["background"] > 0
    assert np.abs(enhanced.image.astype(float) - plain.image).mean() > 5


def test_exif_orientation_is_applied_before_restoring(pipeline):
    ramp = np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None]
    image = Image.fromarray(np.broadcast_to(ramp, (40, 64, 3)).copy())
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)

    result = pipeline.restore(buffer.getvalue(), RestoreOptions(upscale=2, landmarks=NO_FACES))

    assert (result.width, result.height) == (80, 128)


def test_face_upsample_pastes_the_upsampled_faces_in_the_same_place(pipeline, testdata, monkeypatch):
    # A cheap stand-in for Real-ESRGAN (bicubic 2x, uint8 in and out): this checks the
    # face_upsample geometry.
    def bicubic(self, images, cancel=None, *, tile=None, pool=None):
        return [cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC) for image in images]

    monkeypatch.setattr(BackgroundUpsampler, "upscale_many", bicubic)
    face = read(testdata, "cropped_faces/0143.png")
    canvas, mask, landmarks = place_face(face, canvas_size=(400, 300), angle=10, scale=0.4, center=(200, 150))
    options = RestoreOptions(upscale=2, landmarks=[landmarks.tolist()], fidelity=0.5)

    plain = pipeline.restore_array(canvas, options)
    upsampled = pipeline.restore_array(canvas, dataclasses.replace(options, face_upsample=True))
    background = pipeline.restore_array(canvas, dataclasses.replace(options, landmarks=NO_FACES))

    assert upsampled.image.shape == plain.image.shape == (600, 800, 3)
    # Same face in the same place, only resampled differently: far closer to the plain paste
    # than the plain paste is to the unrestored background.
    face = cv2.resize(mask.astype(np.uint8), (800, 600), interpolation=cv2.INTER_NEAREST) > 0
    resampling = np.abs(upsampled.image[face].astype(float) - plain.image[face]).mean()
    restoration = np.abs(plain.image[face].astype(float) - background.image[face]).mean()
    assert resampling < 0.25 * restoration


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_faces_are_pasted_in_place_as_on_a_whole_float_canvas(dtype):
    rng = np.random.default_rng(5)
    canvas = rng.integers(0, 256, (300, 420, 3)).astype(np.uint8)
    faces = [rng.integers(0, 256, (128, 128, 3)).astype(np.uint8) for _ in range(3)]
    mask = parse_mask(np.full((512, 512), 1))  # 1: skin

    def placed(angle, scale, x, y):
        matrix = cv2.getRotationMatrix2D((64, 64), angle, scale)
        matrix[:, 2] += (x - 64, y - 64)
        return matrix

    # The first two overlap (the second blends over the first's unrounded result); the third is apart.
    inverses = [placed(10, 0.9, 100, 120), placed(-20, 1.1, 160, 140), placed(5, 1.0, 350, 200)]
    scale = 257 if dtype == np.uint16 else 1
    whole = canvas.astype(np.float64)
    for face, inverse in zip(faces, inverses, strict=True):
        whole = paste_face(whole, face, mask, inverse, 2)
    if dtype == np.uint16:
        expected = np.clip(np.round(whole * 257), 0, 65535).astype(np.uint16)
    else:
        expected = np.clip(whole, 0, 255).astype(np.uint8)  # the reference's truncation

    in_place = canvas.astype(dtype) * dtype(scale)
    paste_faces(in_place, [(face, mask, inverse) for face, inverse in zip(faces, inverses, strict=True)], 2)

    assert np.array_equal(in_place, expected)
    assert (in_place != canvas.astype(dtype) * dtype(scale)).any(axis=2).mean() > 0.1


def test_the_blend_in_bands_of_rows_is_the_blend_over_the_whole_footprint(monkeypatch):
    import ml.face.paste as paste

    rng = np.random.default_rng(9)
    canvas = rng.integers(0, 256, (200, 260, 3)).astype(np.float64)
    face = rng.integers(0, 256, (128, 128, 3)).astype(np.uint8)
    mask = parse_mask(np.full((512, 512), 1))
    inverse = cv2.getRotationMatrix2D((64, 64), 15, 1.2)
    inverse[:, 2] += (60, 40)

    monkeypatch.setattr(paste, "_BLEND_ROWS", 10**6)  # one band: the whole footprint at once
    whole = paste_face(canvas.copy(), face, mask, inverse, 2)  # a float64 canvas is blended in place
    monkeypatch.setattr(paste, "_BLEND_ROWS", 7)  # bands that do not divide the footprint
    banded = paste_face(canvas.copy(), face, mask, inverse, 2)

    assert np.array_equal(whole, banded)
    assert (whole != canvas).any(axis=2).mean() > 0.1


# --- guard rails --------------------------------------------------------------------------------


def test_the_output_cap_lowers_the_upscale_and_says_so(pipeline, monkeypatch):
    monkeypatch.setattr(pipeline, "max_output_pixels", 200_000)
    photo = np.full((120, 160, 3), 128, np.uint8)

    result = pipeline.restore_array(photo, RestoreOptions(upscale=4, landmarks=NO_FACES))

    # 160x120 at 4x is 307,200 pixels; 3x (172,800) is the largest factor under the cap.
    assert result.upscale == 3 and (result.width, result.height) == (480, 360)
    assert any("upscale lowered from 4 to 3" in warning for warning in result.warnings)


def test_an_image_over_the_cap_even_at_1x_is_invalid(pipeline, monkeypatch):
    monkeypatch.setattr(pipeline, "max_output_pixels", 10_000)

    with pytest.raises(InvalidImage, match="limit"):
        pipeline.restore_array(np.zeros((120, 160, 3), np.uint8), RestoreOptions(upscale=1, landmarks=NO_FACES))


def test_detections_are_filtered_and_capped(pipeline, testdata, monkeypatch):
    photo, _, landmarks = two_faces_in_a_photo(testdata)
    scale = geometry.detector_scale(*photo.shape[:2])  # 02.png needs no enlargement

    def row(points, score):
        points = np.asarray(points) * scale
        low, high = points.min(axis=0), points.max(axis=0)
        return [*low, *high, score, *points.reshape(-1)]

    tiny = [[100 + dx * 1.5, 100 + dy * 1.5] for dx, dy in ((0, 0), (2, 0), (1, 1), (0, 2), (2, 2))]
    rows = np.array([row(tiny, 0.99), row(landmarks[0], 0.98), row(landmarks[1], 0.95)], np.float32)
    monkeypatch.setattr(FaceDetector, "detect", lambda self, image: rows)
    monkeypatch.setattr(pipeline, "max_faces", 1)

    result = pipeline.restore_array(photo, RestoreOptions(upscale=1))

    # The tiny face (eyes 3 px apart) is dropped, then the cap keeps the most confident one.
    assert result.faces == 1
    assert any("2 faces found" in warning for warning in result.warnings)
    placed = read(testdata, "cropped_faces/0143.png").astype(float)
    crop = result.cropped_faces[0]
    assert (
        np.abs(
            cv2.GaussianBlur(crop, (9, 9), 0)[128:384, 128:384] - cv2.GaussianBlur(placed, (9, 9), 0)[128:384, 128:384]
        ).mean()
        < 8
    )
