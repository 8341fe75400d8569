"""Child process that times our pipeline (``python -m bench.ml_pipeline.ours SPEC.json``).

Each configuration runs in its own process, so one input size's peak memory cannot leak into
another's and the first job really is the first one of a fresh worker. The spec says which
photos to run, how often, and whether to call ``warmup()`` first; the child writes one JSON
report (rewritten after every job, so a crash keeps what was measured).

Peak memory is the process's resident high-water mark (``VmHWM``), reset before each job
through ``/proc/self/clear_refs`` so the figure is that job's own peak (models included, since
they stay resident), not the loading peak. On CUDA the allocator's peak is reported as well.
"""

from __future__ import annotations

import gc
import json
import sys
import time
from pathlib import Path

KIB = 1024


def read_status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / KIB, 1)


def bench_manifest(weights_dir: Path) -> dict:
    """ml.weights' manifest, with the sizes of the random-weight files where those are present.

    The generated checkpoints hold the same tensors as the official files but not the same
    bytes, so the size check would call them corrupt. Official files pass through unchanged.
    """
    import dataclasses

    from ml.weights import MANIFEST

    manifest = {}
    for name, checkpoint in MANIFEST.items():
        path = weights_dir / checkpoint.filename
        if path.is_file() and path.stat().st_size != checkpoint.size:
            checkpoint = dataclasses.replace(checkpoint, size=path.stat().st_size, sha256=None)
        manifest[name] = checkpoint
    return manifest


def build_pipeline(spec: dict):
    import torch

    from ml.pipeline import RestorationPipeline

    weights_dir = Path(spec["weights_dir"])
    kwargs = {
        "weights_dir": weights_dir,
        "manifest": bench_manifest(weights_dir),
        "device": spec.get("device"),
        "enabled_models": tuple(spec["enabled_models"]),
        "bg_tile": spec["bg_tile"],
        "num_threads": spec["threads"],
    }
    started = time.perf_counter()
    pipeline = RestorationPipeline(**kwargs)
    return pipeline, time.perf_counter() - started, torch


def run_job(pipeline, torch, job: dict, measure_memory: bool) -> dict:
    from ml.options import RestoreOptions

    landmarks = job.get("landmarks")
    options = RestoreOptions(
        **job["options"],
        landmarks=None if landmarks is None else tuple(tuple(map(tuple, f)) for f in landmarks),
    )
    data = Path(job["path"]).read_bytes()
    cuda = torch.cuda.is_available() and str(getattr(pipeline, "device", "cuda")).startswith("cuda")
    gc.collect()
    rss_before = read_status_kib("VmRSS")
    peak_reset = reset_peak_rss() if measure_memory else False
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = pipeline.restore(data, options)
    if cuda:
        torch.cuda.synchronize()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    record = {
        "name": job["name"],
        "input_wh": job.get("input_wh"),
        "wall_s": wall,
        "cpu_s": cpu,
        "timings": {k: float(v) for k, v in dict(result.timings).items()},
        "faces": _face_count(result),
        "output_wh": [result.width, result.height],
        "rss_before_mib": mib(rss_before),
        "peak_rss_mib": mib(read_status_kib("VmHWM")) if peak_reset else None,
        "peak_is_job_only": peak_reset,
    }
    if cuda:
        record["cuda_peak_allocated_mib"] = round(torch.cuda.max_memory_allocated() / KIB**2, 1)
        record["cuda_peak_reserved_mib"] = round(torch.cuda.max_memory_reserved() / KIB**2, 1)
    if job.get("save_output"):
        Path(job["save_output"]).write_bytes(result.png)
    return record


def _face_count(result) -> int | None:
    faces = getattr(result, "faces", None)
    if faces is None or isinstance(faces, int):
        return faces
    return len(faces)


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    report_path = Path(spec["report"])
    report: dict = {"label": spec["label"], "jobs": []}
    pipeline, report["construct_s"], torch = build_pipeline(spec)
    report["device"] = str(getattr(pipeline, "device", "?"))
    report["torch_threads"] = torch.get_num_threads()
    report["rss_after_load_mib"] = mib(read_status_kib("VmRSS"))
    if spec.get("warmup"):
        started = time.perf_counter()
        pipeline.warmup()
        report["warmup_s"] = time.perf_counter() - started
        report["rss_after_warmup_mib"] = mib(read_status_kib("VmRSS"))
    report["peak_rss_before_jobs_mib"] = mib(read_status_kib("VmHWM"))
    for job in spec["jobs"]:
        for _ in range(job.get("repeat", 1)):
            print(f"  [{spec['label']}] {job['name']} ...", file=sys.stderr, flush=True)
            report["jobs"].append(run_job(pipeline, torch, job, spec.get("measure_memory", False)))
            report_path.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main(sys.argv[1])
