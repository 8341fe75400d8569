"""Prepare an external CodeFormer checkout and time its inference script on one photo.

The checkout (``--reference-dir`` or ``CODEFORMER_REFERENCE_DIR``) lives outside the project;
see shared/reference.md. Preparing it means what the upstream setup and downloads would do:
write ``basicsr/version.py`` and link the random-weight checkpoints where the script looks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.ml_pipeline.cases import Photo

SCRIPT = "inference_codeformer.py"
# checkpoint file -> folder under <reference>/weights/ (the official layout)
OFFICIAL_WEIGHT_DIRS = {
    "codeformer.pth": "CodeFormer",
    "detection_Resnet50_Final.pth": "facelib",
    "parsing_parsenet.pth": "facelib",
    "RealESRGAN_x2plus.pth": "realesrgan",
}
VERSION_PY = "__version__ = '{v}'\n__gitsha__ = 'unknown'\nversion_info = ({info})\n"


@dataclass(frozen=True)
class ReferenceRun:
    label: str
    script_s: float  # whole script: model loading and every image
    setup_s: float  # from script start to the first image (imports inside it, model loading)
    per_image_s: list[float]
    per_image_cpu_s: list[float]  # process CPU time (all threads): less sensitive to a busy box
    args: list[str]

    @property
    def warm_image_s(self) -> float:
        """The last image's time: models loaded, first-call costs paid."""
        return self.per_image_s[-1]


def find_reference_dir(explicit: Path | None) -> tuple[Path | None, str]:
    """The checkout to use, or None and the reason it cannot be used."""
    candidate = explicit or (
        Path(os.environ["CODEFORMER_REFERENCE_DIR"]) if os.environ.get("CODEFORMER_REFERENCE_DIR") else None
    )
    if candidate is None:
        return None, "no --reference-dir given and CODEFORMER_REFERENCE_DIR is not set"
    if not (candidate / SCRIPT).is_file():
        return None, f"{candidate} has no {SCRIPT}"
    return candidate.resolve(), ""


def prepare_reference_dir(reference_dir: Path, weights_dir: Path) -> None:
    version_file = reference_dir / "basicsr" / "version.py"
    if not version_file.exists():
        version = (reference_dir / "basicsr" / "VERSION").read_text().strip()
        info = ", ".join(p if p.isdigit() else repr(p) for p in version.split("."))
        version_file.write_text(VERSION_PY.format(v=version, info=info))
    for name, folder in OFFICIAL_WEIGHT_DIRS.items():
        target = reference_dir / "weights" / folder / name
        source = (weights_dir / name).resolve()
        if target.is_symlink() and target.resolve() == source:
            continue
        if target.exists() and not target.is_symlink():
            # Someone placed a real file there (maybe the official weights): keep it, but the
            # random-weight comparison would then be unfair, so say so.
            print(f"  note: keeping existing {target} (not the benchmark's random weights)")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        target.symlink_to(source)


def run_reference(
    *,
    reference_dir: Path,
    photo: Photo,
    copies: int,
    script_args: list[str],
    work_dir: Path,
    threads: int,
    label: str,
    resume: bool = False,
) -> ReferenceRun:
    """Time the unmodified script on ``copies`` copies of one photo in one process."""
    run_dir = work_dir.resolve() / f"reference-{label}"
    report = run_dir / "report.json"
    if resume and report.is_file() and len(json.loads(report.read_text())["per_image_s"]) == copies:
        print(f"  [reference-{label}] reusing {report} (--resume)", flush=True)
        return _run_from_report(label, report)
    shutil.rmtree(run_dir, ignore_errors=True)
    inputs = run_dir / "inputs"
    inputs.mkdir(parents=True)
    for i in range(copies):
        (inputs / f"photo_{i}.png").write_bytes(photo.png_bytes)
    (run_dir / "landmarks.json").write_text(json.dumps(photo.landmarks))
    command = [
        sys.executable,
        "-m",
        "bench.ml_pipeline.reference_runner",
        "--reference-dir",
        str(reference_dir),
        "--input-dir",
        str(inputs),
        "--landmarks-json",
        str(run_dir / "landmarks.json"),
        "--size",
        f"{photo.width}x{photo.height}",
        "--output-dir",
        str(run_dir / "results"),
        "--report",
        str(report),
        "--threads",
        str(threads),
        "--",
        *script_args,
    ]
    log = run_dir / "log.txt"
    with log.open("w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=project_root())
    if done.returncode != 0:
        tail = log.read_text()[-2000:]
        raise RuntimeError(f"reference run {label} failed (exit {done.returncode}):\n{tail}")
    return _run_from_report(label, report)


def _run_from_report(label: str, report: Path) -> ReferenceRun:
    data = json.loads(report.read_text())
    return ReferenceRun(
        label=label,
        script_s=data["script_s"],
        setup_s=data["setup_s"],
        per_image_s=data["per_image_s"],
        per_image_cpu_s=data["per_image_cpu_s"],
        args=data["script_args"],
    )


def reference_output(work_dir: Path, label: str) -> Path | None:
    found = sorted((work_dir / f"reference-{label}" / "results" / "final_results").glob("*.png"))
    return found[0] if found else None


def parity_psnr_db(output: Path, expected: Path) -> float:
    """PSNR of the reference's output against the parity fixture: proves the harness (weights,
    landmark injection) reproduces the run that made expected.png (>= 60 dB there)."""
    import cv2
    import numpy as np

    ours, theirs = cv2.imread(str(output)), cv2.imread(str(expected))
    if ours is None or theirs is None or ours.shape != theirs.shape:
        return float("nan")
    mse = float(np.mean((ours.astype(np.float64) - theirs.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]
