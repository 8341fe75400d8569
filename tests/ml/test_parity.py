"""Parity with CodeFormer's own inference on the shared random-weight fixture.

Every case folder under shared/parity/cases (or $PARITY_CASES_DIR) and under this folder's
parity_cases/ (the grayscale cases, made by scripts/make_gray_parity_cases.py with the
reference's own code) is a test. The rule is the fixture's README: same size and PSNR >= 60 dB
against expected.png, compared before the final resize; stages/ (when present) must give
bit-identical crops and >= 60 dB faces.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.options import RestoreOptions
from tests.ml.checkpoints import shared_dir

MIN_PSNR_DB = 60.0


OWN_CASES_DIR = Path(__file__).parent / "parity_cases"


def cases_dirs() -> list[Path]:
    return [Path(os.environ.get("PARITY_CASES_DIR", shared_dir() / "parity" / "cases")), OWN_CASES_DIR]


def case_folders() -> dict[str, Path]:
    """Case name -> folder, over every cases directory (names are unique across them)."""
    found: dict[str, Path] = {}
    for root in cases_dirs():
        if root.is_dir():
            found.update({p.name: p for p in sorted(root.iterdir()) if (p / "params.json").is_file()})
    return found


def case_names() -> list[str]:
    return sorted(case_folders())


def psnr(actual: np.ndarray, expected: np.ndarray) -> float:
    mse = np.mean((actual.astype(np.float64) - expected.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def read_bgr(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cannot read {path}"
    return image


def case_options(params: dict) -> RestoreOptions:
    options = params["options"]
    landmarks = params.get("landmarks")
    return RestoreOptions(
        fidelity=options["w"],
        upscale=options["upscale"],
        has_aligned=options["has_aligned"],
        only_center_face=options.get("only_center_face", False),
        background_enhance=options.get("bg_upsampler") == "realesrgan",
        face_upsample=options.get("face_upsample", False),
        landmarks=None if landmarks is None else landmarks["input_frame"],
    )


_RESULTS: dict[str, object] = {}


def run_case(pipeline, name: str):
    """Each case runs once per session; the final-image and stage tests share the result."""
    if name not in _RESULTS:
        folder = case_folders()[name]
        params = json.loads((folder / "params.json").read_text())
        _RESULTS[name] = pipeline.restore_array(read_bgr(folder / "input.png"), case_options(params))
    return _RESULTS[name]


@pytest.mark.slow
@pytest.mark.parametrize("case", case_names())
def test_it_matches_the_reference_output(pipeline, case):
    expected = read_bgr(case_folders()[case] / "expected.png")
    result = run_case(pipeline, case)

    assert result.internal_image.shape == expected.shape
    value = psnr(result.internal_image, expected)
    print(f"{case}: {value:.2f} dB")
    assert value >= MIN_PSNR_DB


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in case_names() if (case_folders()[c] / "stages").is_dir()])
def test_its_stages_match_the_reference(pipeline, case):
    stages = case_folders()[case] / "stages"
    result = run_case(pipeline, case)
    crops = sorted(stages.glob("cropped_*.png"))
    restored = sorted(stages.glob("restored_*.png"))

    assert len(result.cropped_faces) == len(crops) == len(restored)
    for ours, path in zip(result.cropped_faces, crops, strict=True):
        assert np.array_equal(ours, read_bgr(path)), f"{path.name} differs"
    for ours, path in zip(result.restored_faces, restored, strict=True):
        assert psnr(ours, read_bgr(path)) >= MIN_PSNR_DB, path.name


@pytest.mark.parametrize("case", case_names())
def test_the_output_is_upscale_times_the_input(pipeline, case):
    """The reference returns its enlarged working image; the product returns the size asked."""
    folder = case_folders()[case]
    params = json.loads((folder / "params.json").read_text())
    width, height = params["input"]["size_wh"]
    result = run_case(pipeline, case)

    upscale = params["options"]["upscale"]
    assert (result.width, result.height) == (width * upscale, height * upscale)
    assert result.image.shape[:2] == (height * upscale, width * upscale)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in case_names() if c.startswith("whole_gray")])
def test_a_grey_photo_comes_back_grey_and_not_black(pipeline, case):
    """CodeFormer issue #222: the reference casts the over-range grey blend to uint16 and its
    8-bit result reads back black. Ours clips: the photo stays grey, at its own brightness."""
    folder = case_folders()[case]
    photo = read_bgr(folder / "input.png")
    result = run_case(pipeline, case)

    image = result.image.astype(np.int16)
    assert (image == image[:, :, :1]).all()
    assert abs(float(image.mean()) - float(photo.mean())) < 10.0
