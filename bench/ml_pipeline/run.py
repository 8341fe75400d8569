"""Benchmark of the restoration pipeline: stages, overhead, memory, cold start, vs the reference.

Run from the repository root:  python -m bench.ml_pipeline [--quick] [--reference-dir DIR]

Every measurement runs in a child process (see ours.py and reference_runner.py). The report
ends with three machine-readable lines, ``overhead: <x>``, ``vs_reference: <y>`` and
``vs_reference_bg: <z>``:

- overhead: warm end-to-end time of the main photo over the sum of its model forward passes
  (``timings['forward']``); target <= 1.15.
- vs_reference: our warm job over the reference script's warm per-image time on the same
  photo, options and random weights, in the same run; target <= 0.7. ``n/a`` (with the reason
  printed above) when no reference checkout is available.
- vs_reference_bg: the same with ``background_enhance`` + ``face_upsample`` (the seed gateway's
  defaults; the reference with ``--bg_upsampler realesrgan --face_upsample``); target <= 0.7.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench.ml_pipeline import cases, reference
from bench.ml_pipeline.report import print_report

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("first", "reference", "memory", "stages", "background")
DEFAULT_SIZES = "800x600,1600x1200"
QUICK_SIZES = "400x300,800x600"
REFERENCE_OPTIONS = ["-w", "0.7", "-s", "2"]
REFERENCE_BG_OPTIONS = ["--bg_upsampler", "realesrgan", "--face_upsample"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ml_pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer photos and jobs, small sizes")
    parser.add_argument(
        "--reference-dir",
        type=Path,
        help="extracted sczhou/CodeFormer checkout (default: $CODEFORMER_REFERENCE_DIR)",
    )
    parser.add_argument("--weights-dir", type=Path, default=ROOT / ".cache" / "bench-weights")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "bench" / "ml_pipeline" / "out")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the pipeline's)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bg-tile", type=int, default=400)
    parser.add_argument("--sizes", help=f"memory sizes (default {DEFAULT_SIZES}, quick {QUICK_SIZES})")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"subset of {','.join(PARTS)}")
    parser.add_argument(
        "--resume", action="store_true", help="reuse the finished measurements of an interrupted run in --work-dir"
    )
    parser.add_argument("--report-only", action="store_true", help="print the report of the last run's results.json")
    parser.add_argument("--enabled-models", default="codeformer", help="restorers to load")
    args = parser.parse_args(argv)
    args.parts = set(args.parts.split(","))
    unknown = args.parts - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    args.sizes = [
        tuple(int(v) for v in s.split("x"))
        for s in (args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)).split(",")
    ]
    return args


def ensure_weights(weights_dir: Path) -> None:
    names = reference.OFFICIAL_WEIGHT_DIRS
    if all((weights_dir / name).is_file() for name in names):
        return
    script = cases.shared_dir() / "parity" / "make_weights.py"
    print(f"generating random weights into {weights_dir} ...", flush=True)
    subprocess.run([sys.executable, str(script), str(weights_dir)], check=True)


def photo_job(photo: cases.Photo, work_dir: Path, repeat: int = 1, **options) -> dict:
    path = work_dir / "inputs" / f"{photo.name}{photo.suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(photo.data)
    return {
        "name": photo.name,
        "input_wh": [photo.width, photo.height],
        "path": str(path),
        "options": {**photo.options, **options},
        "landmarks": photo.landmarks,
        "repeat": repeat,
    }


def run_ours(args, label: str, jobs: list[dict], *, warmup: bool, memory: bool = False) -> dict:
    """One fresh worker process: build the pipeline, optionally warm it, run the jobs."""
    spec_path = args.work_dir / f"ours-{label}.spec.json"
    report_path = args.work_dir / f"ours-{label}.json"
    expected_jobs = sum(job.get("repeat", 1) for job in jobs)
    if args.resume and report_path.is_file():
        previous = json.loads(report_path.read_text())
        if len(previous["jobs"]) == expected_jobs:
            print(f"  [{label}] reusing {report_path.name} (--resume)", flush=True)
            return previous
    report_path.unlink(missing_ok=True)
    spec = {
        "label": label,
        "report": str(report_path),
        "weights_dir": str(args.weights_dir),
        "device": args.device,
        "enabled_models": args.enabled_models.split(","),
        "bg_tile": args.bg_tile,
        "threads": args.threads,
        "warmup": warmup,
        "measure_memory": memory,
        "jobs": jobs,
    }
    spec_path.write_text(json.dumps(spec, indent=1))
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench.ml_pipeline.ours", str(spec_path)], cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"our pipeline failed in {label} (exit {done.returncode})")
    report = json.loads(report_path.read_text())
    report["process_s"] = time.perf_counter() - started
    return report


def measure_first_job(args, main: cases.Photo) -> dict:
    print("our pipeline: first job vs later jobs (fresh process, no warmup) ...", flush=True)
    jobs = [photo_job(main, args.work_dir, repeat=2 if args.quick else 3)]
    return run_ours(args, "first", jobs, warmup=False)


def measure_stages(args, main: cases.Photo) -> dict:
    print("our pipeline: per-stage timings, warm ...", flush=True)
    photos = [main, *cases.test_photos()]
    if args.quick:
        photos = [p for p in photos if p.name in (cases.MAIN_CASE, "0143", "04")]
    return run_ours(args, "stages", [photo_job(p, args.work_dir) for p in photos], warmup=True)


def measure_memory(args, main: cases.Photo) -> list[dict]:
    reports = []
    for width, height in args.sizes:
        print(f"our pipeline: peak memory, background_enhance, {width}x{height} ...", flush=True)
        photo = cases.resized(main, width, height)
        jobs = [photo_job(photo, args.work_dir, background_enhance=True)]
        reports.append(run_ours(args, f"memory-{width}x{height}", jobs, warmup=True, memory=True))
    return reports


def measure_background(args, main: cases.Photo) -> dict:
    """Ours and the reference with the background upsampler and face upsampling."""
    print("our pipeline: background_enhance + face_upsample on the main photo ...", flush=True)
    jobs = [photo_job(main, args.work_dir, background_enhance=True, face_upsample=True)]
    ours = run_ours(args, "background", jobs, warmup=True)
    # One copy only: at about three minutes an image on this CPU a warm second copy costs too much.
    # Two copies, as for the plain job: ours is warm, so the reference's warm (second) image
    # is what it is held against, not its first, which pays the one-time warm-up.
    theirs = measure_reference(args, main, "background", REFERENCE_OPTIONS + REFERENCE_BG_OPTIONS, copies=2)
    return {"ours": ours, "reference": theirs}


def measure_plain_reference(args, main: cases.Photo) -> dict:
    # Two copies in one process: the second image is the warm per-image time.
    result = measure_reference(args, main, "plain", REFERENCE_OPTIONS, copies=2)
    add_reference_parity(result, args.work_dir)
    return result


def add_reference_parity(result: dict, work_dir: Path) -> None:
    output = reference.reference_output(work_dir, "plain")
    if "skipped" not in result and output is not None:
        expected = cases.shared_dir() / "parity" / "cases" / cases.MAIN_CASE / "expected.png"
        result["parity_psnr_db"] = reference.parity_psnr_db(output, expected)


# In order of importance, so a run cut short still has the headline figures.
MEASUREMENTS = {
    "first": measure_first_job,
    "reference": measure_plain_reference,
    "memory": measure_memory,
    "stages": measure_stages,
    "background": measure_background,
}


def measure(args, results_path: Path) -> dict:
    main = cases.main_case()
    results: dict = {"quick": args.quick, "threads": args.threads, "bg_tile": args.bg_tile}
    if args.resume and results_path.is_file():
        results = json.loads(results_path.read_text())
    started = time.perf_counter() - results.get("bench_wall_s", 0.0)
    for part, run_part in MEASUREMENTS.items():
        if part not in args.parts or (args.quick and part == "background") or part in results:
            continue
        results.setdefault("load_average", {})[part] = os.getloadavg()
        try:
            results[part] = run_part(args, main)
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            # Keep going: the other parts' figures are still worth having.
            print(f"{part}: FAILED: {exc}", flush=True)
            results.setdefault("failed", {})[part] = str(exc)
        results["bench_wall_s"] = time.perf_counter() - started
        results_path.write_text(json.dumps(results, indent=1))
    return results


def measure_reference(args, main: cases.Photo, label: str, options: list[str], copies: int) -> dict:
    reference_dir, why = reference.find_reference_dir(args.reference_dir)
    if reference_dir is None:
        print(f"reference: skipped ({why})", flush=True)
        return {"skipped": why}
    reference.prepare_reference_dir(reference_dir, args.weights_dir)
    print(f"reference: inference_codeformer.py {' '.join(options)} x{copies} ...", flush=True)
    run = reference.run_reference(
        resume=args.resume,
        reference_dir=reference_dir,
        photo=main,
        copies=copies,
        script_args=options,
        work_dir=args.work_dir,
        threads=args.threads,
        label=label,
    )
    return {"dir": str(reference_dir), **run.__dict__, "warm_image_s": run.warm_image_s}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    results_path = args.work_dir / "results.json"
    if args.report_only:
        results = json.loads(results_path.read_text())
        if results.get("reference") and "parity_psnr_db" not in results["reference"]:
            add_reference_parity(results["reference"], args.work_dir)
        print_report(results)
        return
    ensure_weights(args.weights_dir)
    print_report(measure(args, results_path))


if __name__ == "__main__":
    main()
