"""Run CodeFormer's own ``inference_codeformer.py`` with injected landmarks, and time it.

This is a child process of the benchmark (``python -m bench.ml_pipeline.reference_runner``).
It imports nothing from the reference at module level: the reference tree is an external
checkout given on the command line, never part of this project. The script runs unmodified
through ``runpy``; only two things are patched at runtime:

- ``RetinaFace.detect_faces`` returns the injected landmarks, because random weights find no
  face. Rows are ``[x1, y1, x2, y2, score, 10 landmark coords]`` in the detector's input frame,
  using the float32 round trip of shared/parity/README.md section 3 so the crops match the
  parity fixture bit for bit.
- ``FaceRestoreHelper.clean_all`` (called once at the start of every image) records a
  timestamp, so the per-image time of a warm second image can be separated from model loading.

``lpips`` (imported only by training losses) is replaced by an empty module.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import time
import types
from pathlib import Path

DETECTOR_SHORT_SIDE = 640
UPSIZE_SHORT_SIDE = 512
INJECTED_SCORE = 0.999


def detector_frame_rows(landmarks, width: int, height: int):
    """Landmarks in input pixels -> float32 detector rows, as the reference would produce them.

    The reference upsizes inputs whose short side is under 512 by ``f`` (cv2 rounds the size),
    then resizes that internal image so its short side is 640 (``s``); the detector's float32
    output is later divided by ``s`` in float32.
    """
    import numpy as np

    f = UPSIZE_SHORT_SIDE / min(width, height) if min(width, height) < UPSIZE_SHORT_SIDE else 1.0
    internal_w, internal_h = round(width * f), round(height * f)
    s = DETECTOR_SHORT_SIDE / min(internal_w, internal_h)
    rows = []
    for face in landmarks:
        points = (np.asarray(face, dtype=np.float64) * f * s).astype(np.float32)
        x1, y1 = points.min(axis=0) - 20
        x2, y2 = points.max(axis=0) + 20
        box = np.array([x1, y1, x2, y2, INJECTED_SCORE], dtype=np.float32)
        rows.append(np.concatenate([box, points.reshape(-1)]))
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 15), np.float32)


def install_patches(reference_dir: Path, rows, events: dict) -> None:
    sys.modules.setdefault("lpips", types.ModuleType("lpips"))
    sys.path.insert(0, str(reference_dir))

    from facelib.detection.retinaface.retinaface import RetinaFace
    from facelib.utils.face_restoration_helper import FaceRestoreHelper

    def injected_detect_faces(self, image, *args, **kwargs):
        events["detect_calls"] += 1
        return rows.copy()

    original_clean_all = FaceRestoreHelper.clean_all

    def timed_clean_all(self):
        events["image_starts"].append(time.perf_counter())
        events["image_cpu_starts"].append(time.process_time())
        return original_clean_all(self)

    RetinaFace.detect_faces = injected_detect_faces
    FaceRestoreHelper.clean_all = timed_clean_all


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", type=Path, required=True)
    parser.add_argument("--input-dir", type=Path, required=True, help="folder of copies of one photo")
    parser.add_argument("--landmarks-json", type=Path, required=True, help="faces x 5 x [x, y], input px")
    parser.add_argument("--size", required=True, help="WIDTHxHEIGHT of the photo")
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="after --: inference options")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    t_start = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    rows = detector_frame_rows(json.loads(args.landmarks_json.read_text()), width, height)
    events: dict = {"detect_calls": 0, "image_starts": [], "image_cpu_starts": []}
    reference_dir = args.reference_dir.resolve()
    report_path = args.report.resolve()  # the script runs with the reference tree as cwd
    install_patches(reference_dir, rows, events)

    extra = [a for a in args.script_args if a != "--"]
    script = reference_dir / "inference_codeformer.py"
    sys.argv = [str(script), "-i", str(args.input_dir.resolve()), "-o", str(args.output_dir.resolve())]
    sys.argv += extra
    os.chdir(reference_dir)
    t_script = time.perf_counter()
    runpy.run_path(str(script), run_name="__main__")
    t_end, cpu_end = time.perf_counter(), time.process_time()

    starts = events["image_starts"]
    per_image = [b - a for a, b in zip(starts, [*starts[1:], t_end], strict=True)]
    cpu_starts = events["image_cpu_starts"]
    per_image_cpu = [b - a for a, b in zip(cpu_starts, [*cpu_starts[1:], cpu_end], strict=True)]
    report = {
        "script_args": sys.argv[1:],
        "threads": args.threads,
        "cuda": torch.cuda.is_available(),
        "import_s": t_script - t_start,
        "script_s": t_end - t_script,
        "setup_s": (starts[0] - t_script) if starts else None,
        "per_image_s": per_image,
        "per_image_cpu_s": per_image_cpu,
        "detect_calls": events["detect_calls"],
        "faces_injected": int(rows.shape[0]),
    }
    report_path.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
