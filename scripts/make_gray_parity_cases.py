"""Generate the grayscale parity cases (tests/ml/parity_cases/) with CodeFormer's own inference.

Like the shared fixture (shared/parity/README.md), every expected image is what the official
``inference_codeformer.py`` writes, run unmodified through ``runpy`` on the random weights of
``make_weights.py``, with ``RetinaFace.detect_faces`` replaced by the injected landmarks
(bench/ml_pipeline/reference_runner.py: the float32 detector-frame round trip). Nothing from
the CodeFormer repository is stored here: the checkout is an external folder given on the
command line (shared/reference.md says how to bring it).

One more thing is patched, for the whole-photo cases only, and only when it is reached: CodeFormer
issue #222. After the grey colour transfer the pasted float image can exceed 256, and
``paste_faces_to_input_image`` then casts it with ``astype(np.uint16)``, which wraps the
negatives and makes the 8-bit result read back black. That one cast is replaced by
clip-then-truncate (``np.clip(img, 0, 255).astype(np.uint8)``, what the 8-bit branch does to
in-range values), and ``params.json`` records whether it was reached. With ``--face_upsample``
the same overshoot meets ``RealESRGANer.enhance``'s 16-bit sniff (max > 256), which divides the
float face by 65535 and returns it as uint16; a float face keeps the 8-bit range there
(``patch_float_face_range``), again recorded in ``params.json``.

    python scripts/make_gray_parity_cases.py --reference-dir /tmp/cf_ref [--only NAME ...]

Cases (inputs stored as 1-channel PNGs: ``cv2.imread(IMREAD_COLOR)`` gives back the same
3 identical channels the reference read; expected images likewise when all channels agree):

- ``aligned_gray_w0``, ``aligned_gray_w05``, ``aligned_gray_w1``: testdata/gray_faces/Hepburn01
  (downscaled to 256x256 to keep the fixture small; both sides resize it to 512 with
  INTER_LINEAR), ``--has_aligned -w {0, 0.5, 1}``.
- ``whole_gray_two_faces``: shared/parity/cases/whole_two_faces/input.png made grey
  (BGR2GRAY), its landmarks, ``-w 0.7 -s 2``.
- ``whole_gray_face_upsample``: the same photo and options plus ``--face_upsample`` (Real-ESRGAN
  on the grey, colour-transferred float faces).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import platform
import runpy
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.ml_pipeline.reference import prepare_reference_dir  # noqa: E402
from bench.ml_pipeline.reference_runner import detector_frame_rows, install_patches  # noqa: E402
from tests.ml.checkpoints import build_test_weights, shared_dir  # noqa: E402

OUT = REPO / "tests" / "ml" / "parity_cases"
CAST_222 = "upsample_img = upsample_img.astype(np.uint16)"
ALIGNED_INPUT_SIDE = 256


def gray_face() -> np.ndarray:
    face = cv2.imread(str(shared_dir() / "testdata" / "gray_faces" / "Hepburn01.png"), cv2.IMREAD_GRAYSCALE)
    return cv2.resize(face, (ALIGNED_INPUT_SIDE, ALIGNED_INPUT_SIDE), interpolation=cv2.INTER_AREA)


def gray_photo() -> tuple[np.ndarray, list]:
    folder = shared_dir() / "parity" / "cases" / "whole_two_faces"
    photo = cv2.cvtColor(cv2.imread(str(folder / "input.png"), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
    landmarks = json.loads((folder / "params.json").read_text())["landmarks"]["input_frame"]
    return photo, landmarks


_ALIGNED = "aligned grey face: is_gray True, bgr2gray + adain_npy colour transfer, imwrite of the float face"
_WHOLE = "whole grey photo, injected landmarks: grey restored faces pasted as floats, final astype(uint8)"
CASES = {
    "aligned_gray_w0": {"w": 0.0, "aligned": True, "checks": _ALIGNED},
    "aligned_gray_w05": {"w": 0.5, "aligned": True, "checks": _ALIGNED},
    "aligned_gray_w1": {"w": 1.0, "aligned": True, "checks": _ALIGNED},
    "whole_gray_two_faces": {"w": 0.7, "aligned": False, "checks": _WHOLE},
    "whole_gray_face_upsample": {
        "w": 0.7,
        "aligned": False,
        "face_upsample": True,
        "stages": False,  # the same crops and restored faces as whole_gray_two_faces
        "checks": _WHOLE + "; Real-ESRGAN face_upsample of the float grey faces",
    },
}


def patch_issue_222(events: dict) -> None:
    """Replace the one uint16 cast of paste_faces_to_input_image by clip-then-truncate."""
    from facelib.utils import face_restoration_helper as helper

    source = textwrap.dedent(inspect.getsource(helper.FaceRestoreHelper.paste_faces_to_input_image))
    assert source.count(CAST_222) == 1, "the reference's uint16 cast moved; check CodeFormer issue #222"
    source = source.replace(CAST_222, "upsample_img = _clip_then_truncate(upsample_img)")

    def clip_then_truncate(image):
        events["cast_222_reached"] += 1
        events["pasted_range"].append([float(image.min()), float(image.max())])
        return np.clip(image, 0, 255).astype(np.uint8)

    namespace = dict(vars(helper), _clip_then_truncate=clip_then_truncate)
    exec(compile(source, inspect.getsourcefile(helper), "exec"), namespace)  # noqa: S102
    helper.FaceRestoreHelper.paste_faces_to_input_image = namespace["paste_faces_to_input_image"]


def patch_float_face_range(events: dict) -> None:
    """``--face_upsample`` only: ``RealESRGANer.enhance`` sniffs 16-bit input as max > 256, so
    a grey colour-transferred float face that overshoots 256 is divided by 65535 and comes
    back as a near-black uint16 face (the same issue #222 family). A float input keeps the
    8-bit range (float32 / 255, no clip, as for every other face)."""
    from basicsr.utils import realesrgan_utils

    source = textwrap.dedent(inspect.getsource(realesrgan_utils.RealESRGANer.enhance))
    sniff = "if np.max(img) > 256:  # 16-bit image"
    cast = "img = img.astype(np.float32)"
    assert source.count(sniff) == 1 and source.count(cast) == 1, "RealESRGANer.enhance changed"
    source = source.replace(cast, "_float_input = img.dtype.kind == 'f'\n    " + cast)
    source = source.replace(sniff, "if _sixteen_bit(img, _float_input):")

    def sixteen_bit(img, float_input):
        if np.max(img) <= 256:
            return False
        if float_input:
            events["float_face_over_256"] += 1
            return False
        return True

    namespace = dict(vars(realesrgan_utils), _sixteen_bit=sixteen_bit)
    exec(compile(source, inspect.getsourcefile(realesrgan_utils), "exec"), namespace)  # noqa: S102
    realesrgan_utils.RealESRGANer.enhance = namespace["enhance"]


def run_reference(reference_dir: Path, input_path: Path, out_dir: Path, args: list[str]) -> None:
    sys.argv = [str(reference_dir / "inference_codeformer.py"), "-i", str(input_path), "-o", str(out_dir), *args]
    cwd = os.getcwd()
    os.chdir(reference_dir)
    try:
        runpy.run_path(str(reference_dir / "inference_codeformer.py"), run_name="__main__")
    finally:
        os.chdir(cwd)


def write_png(path: Path, image: np.ndarray) -> dict:
    """A 3-channel image whose channels agree is stored as 1 channel (IMREAD_COLOR restores it)."""
    if image.ndim == 3 and (image == image[:, :, :1]).all():
        image = image[:, :, 0]
    assert cv2.imwrite(str(path), image)
    return {"file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "channels_stored": image.ndim}


def make_case(name: str, spec: dict, reference_dir: Path, work: Path, events: dict) -> None:
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    keep_stages = not spec["aligned"] and spec.get("stages", True)
    (folder / "stages" if keep_stages else folder).mkdir(parents=True)
    image, landmarks = (gray_face(), None) if spec["aligned"] else gray_photo()
    input_info = write_png(folder / "input.png", image)
    reference_input = work / name / "input.png"
    reference_input.parent.mkdir(parents=True)
    shutil.copy(folder / "input.png", reference_input)
    args = ["-w", str(spec["w"]), "-s", "2"]
    args += ["--has_aligned"] if spec["aligned"] else []
    args += ["--face_upsample"] if spec.get("face_upsample") else []
    results = work / name / "results"
    before = events["cast_222_reached"]
    float_faces_before = events["float_face_over_256"]
    run_reference(reference_dir, reference_input, results, args)

    if spec["aligned"]:
        expected = cv2.imread(str(results / "restored_faces" / "input.png"), cv2.IMREAD_COLOR)
    else:
        expected = cv2.imread(str(results / "final_results" / "input.png"), cv2.IMREAD_COLOR)
    if keep_stages:
        for i, path in enumerate(sorted((results / "cropped_faces").glob("*.png"))):
            write_png(folder / "stages" / f"cropped_{i:02d}.png", cv2.imread(str(path), cv2.IMREAD_COLOR))
        for i, path in enumerate(sorted((results / "restored_faces").glob("*.png"))):
            write_png(folder / "stages" / f"restored_{i:02d}.png", cv2.imread(str(path), cv2.IMREAD_COLOR))
    expected_info = write_png(folder / "expected.png", expected)
    height, width = image.shape[:2]
    params = {
        "case": name,
        "what_it_checks": spec["checks"],
        "input": {**input_info, "size_wh": [width, height], "read_as": "cv2.imread(path, cv2.IMREAD_COLOR)"},
        "official_command": "python inference_codeformer.py -i input.png " + " ".join(args),
        "options": {
            "has_aligned": spec["aligned"],
            "w": spec["w"],
            "upscale": 2,
            "bg_upsampler": None,
            "face_upsample": bool(spec.get("face_upsample")),
            "only_center_face": False,
        },
        "landmarks": None if landmarks is None else {"input_frame": landmarks},
        "expected": {**expected_info, "size_wh": [expected.shape[1], expected.shape[0]]},
        "issue_222_cast": {
            "replaced_by": "np.clip(img, 0, 255).astype(np.uint8)",
            "reached": events["cast_222_reached"] > before,
            "pasted_float_range": events["pasted_range"][before:],
        },
        "realesrgan_float_face_range": {
            "replaced": "RealESRGANer.enhance: a float face with max > 256 keeps max_range 255 (not 65535)",
            "faces_reached": events["float_face_over_256"] - float_faces_before,
        },
        "reference_run": {
            "code": "github.com/sczhou/CodeFormer inference_codeformer.py via runpy (scripts/make_gray_parity_cases.py)",
            "weights": "shared/parity/make_weights.py",
            "device": "CPU, float32, torch.set_num_threads(2)",
            "python": platform.python_version(),
            "torch": __import__("torch").__version__,
            "numpy": np.__version__,
            "opencv": cv2.__version__,
        },
    }
    (folder / "params.json").write_text(json.dumps(params, indent=1) + "\n")
    print(f"{name}: expected {expected.shape}, issue-222 cast reached: {params['issue_222_cast']['reached']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", type=Path, required=True)
    parser.add_argument("--only", nargs="*", choices=sorted(CASES))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    reference_dir = args.reference_dir.resolve()
    prepare_reference_dir(reference_dir, build_test_weights(shared_dir()))
    photo, landmarks = gray_photo()
    rows = detector_frame_rows(landmarks, photo.shape[1], photo.shape[0])
    events = {"detect_calls": 0, "image_starts": [], "image_cpu_starts": [], "cast_222_reached": 0, "pasted_range": []}
    events["float_face_over_256"] = 0
    install_patches(reference_dir, rows, events)
    patch_issue_222(events)
    patch_float_face_range(events)
    with tempfile.TemporaryDirectory() as work:
        for name in args.only or CASES:
            make_case(name, CASES[name], reference_dir, Path(work), events)


if __name__ == "__main__":
    main()
