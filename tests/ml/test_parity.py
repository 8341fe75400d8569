"""Parity with CodeFormer's own inference on the shared random-weight fixture.

Every case folder under shared/parity/cases (or $PARITY_CASES_DIR) is a test. The rule is
the fixture's README: same size and PSNR >= 60 dB against expected.png, compared before the
final resize; stages/ (when present) must give bit-identical crops and >= 60 dB faces.
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


def cases_dir() -> Path:
    return Path(os.environ.get("PARITY_CASES_DIR", shared_dir() / "parity" / "cases"))


def case_names() -> list[str]:
    root = cases_dir()
    return sorted(p.name for p in root.iterdir() if (p / "params.json").is_file()) if root.is_dir() else []


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
        folder = cases_dir() / name
        params = json.loads((folder / "params.json").read_text())
        _RESULTS[name] = pipeline.restore_array(read_bgr(folder / "input.png"), case_options(params))
    return _RESULTS[name]


@pytest.mark.slow
@pytest.mark.parametrize("case", case_names())
def test_it_matches_the_reference_output(pipeline, case):
    expected = read_bgr(cases_dir() / case / "expected.png")
    result = run_case(pipeline, case)

    assert result.internal_image.shape == expected.shape
    value = psnr(result.internal_image, expected)
    print(f"{case}: {value:.2f} dB")
    assert value >= MIN_PSNR_DB


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in case_names() if (cases_dir() / c / "stages").is_dir()])
def test_its_stages_match_the_reference(pipeline, case):
    stages = cases_dir() / case / "stages"
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
    folder = cases_dir() / case
    params = json.loads((folder / "params.json").read_text())
    width, height = params["input"]["size_wh"]
    result = run_case(pipeline, case)

    upscale = params["options"]["upscale"]
    assert (result.width, result.height) == (width * upscale, height * upscale)
    assert result.image.shape[:2] == (height * upscale, width * upscale)
