"""GPU check of the engine (a device script, <= 8 minutes on one GPU): parity, batching, throughput.

    python -m bench.gpu_check [--reference-dir /tmp/cf_ref] [--jobs 64] [--threads 8] [--batch 8]

1. Parity: every parity case (shared/parity/cases and tests/ml/parity_cases) through the
   pipeline on the GPU; prints each PSNR against the reference's expected.png. fp16 autocast is
   not expected to reach the CPU rule of 60 dB (shared/parity/README.md section 4), so the
   figures are printed, not judged.
2. Batched vs single: the aligned cases restored concurrently through one FaceBatcher vs each
   alone; prints the PSNR between the two (fp16 on both sides).
3. Throughput: ``--jobs`` copies of the two-face parity photo (landmarks injected, so the
   detector forward is skipped as in the CPU benchmark; detection is timed separately), run on
   ``--threads`` threads sharing one pipeline with a FaceBatcher of ``--batch``, end to end from
   the PNG bytes to the encoded PNG. Prints ``faces_per_s: <x>`` and, when a reference
   checkout is given, ``vs_reference_gpu: <y>`` = our per-photo wall time (wall / jobs) over the
   reference script's warm per-image time on the same photo on the same GPU.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from bench.ml_pipeline import cases
from bench.ml_pipeline.reference import find_reference_dir, prepare_reference_dir, run_reference
from ml.batching import FaceBatcher
from ml.options import RestoreOptions
from tests.ml.checkpoints import build_test_weights, manifest_for, shared_dir
from tests.ml.test_parity import case_folders, case_options, psnr, read_bgr


def pipeline_on(device: str, weights: Path, *, batcher: FaceBatcher | None = None):
    from ml.pipeline import RestorationPipeline

    return RestorationPipeline(weights_dir=weights, device=device, manifest=manifest_for(weights), face_batcher=batcher)


def parity(pipe) -> None:
    print("parity (PSNR vs the reference's expected.png; fp16 autocast on CUDA):", flush=True)
    for name, folder in sorted(case_folders().items()):
        params = json.loads((folder / "params.json").read_text())
        result = pipe.restore_array(read_bgr(folder / "input.png"), case_options(params))
        print(f"  {name}: {psnr(result.internal_image, read_bgr(folder / 'expected.png')):.2f} dB", flush=True)


def run_threads(pipe, jobs: list[tuple], threads: int) -> tuple[list, float]:
    results: list = [None] * len(jobs)
    cursor = iter(range(len(jobs)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                return
            data, options = jobs[index]
            results[index] = pipe.restore(data, options)

    start = time.perf_counter()
    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results, time.perf_counter() - start


def batched_vs_single(weights: Path, batch: int) -> None:
    aligned = [f for n, f in sorted(case_folders().items()) if n.startswith("aligned")]
    jobs = []
    for folder in aligned:
        params = json.loads((folder / "params.json").read_text())
        jobs.append((cv2.imencode(".png", read_bgr(folder / "input.png"))[1].tobytes(), case_options(params)))
    batcher = FaceBatcher(max_batch=batch, window_s=0.5)
    together, _ = run_threads(pipeline_on("cuda", weights, batcher=batcher), jobs, len(jobs))
    single = pipeline_on("cuda", weights)
    print(f"batched vs single ({len(jobs)} aligned faces, forwards of {batcher.forwards}):")
    for folder, result, (data, options) in zip(aligned, together, jobs, strict=True):
        alone = single.restore(data, options)
        a, b = (cv2.imdecode(np.frombuffer(r.png, np.uint8), cv2.IMREAD_COLOR) for r in (result, alone))
        print(f"  {folder.name}: {psnr(a, b):.2f} dB")


def throughput(weights: Path, args) -> float:
    photo = cases.main_case()
    options = RestoreOptions(**photo.options, landmarks=photo.landmarks)
    batcher = FaceBatcher(max_batch=args.batch, window_s=0.02)
    pipe = pipeline_on("cuda", weights, batcher=batcher)
    pipe.warmup()
    run_threads(pipe, [(photo.png_bytes, options)] * args.threads, args.threads)  # first-call costs
    results, wall = run_threads(pipe, [(photo.png_bytes, options)] * args.jobs, args.threads)
    faces = sum(r.faces for r in results)
    image = cases.decode(photo.png_bytes)
    start = time.perf_counter()
    pipe.restore_array(image, RestoreOptions(**photo.options))  # with the detector forward
    print(f"throughput: {args.jobs} photos x 2 faces on {args.threads} threads, batch {args.batch}: {wall:.2f} s")
    print(f"  one photo with the detector forward: {time.perf_counter() - start:.2f} s")
    print(f"faces_per_s: {faces / wall:.1f}")
    return wall / args.jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference-dir", type=Path)
    parser.add_argument("--jobs", type=int, default=64)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--work-dir", type=Path, default=Path("out/gpu_check"))
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("bench.gpu_check needs a CUDA device; none is visible")
    weights = build_test_weights(shared_dir())
    parity(pipeline_on("cuda", weights))
    batched_vs_single(weights, args.batch)
    per_photo = throughput(weights, args)
    reference_dir, reason = find_reference_dir(args.reference_dir)
    if reference_dir is None:
        print(f"reference: skipped ({reason})\nvs_reference_gpu: n/a")
        return
    prepare_reference_dir(reference_dir, weights)
    ref = run_reference(
        reference_dir=reference_dir,
        photo=cases.main_case(),
        copies=3,
        script_args=["-w", "0.7", "-s", "2"],
        work_dir=args.work_dir,
        threads=4,
        label="gpu",
    )
    print(f"reference warm image {ref.warm_image_s:.2f} s; ours per photo {per_photo:.3f} s")
    print(f"vs_reference_gpu: {per_photo / ref.warm_image_s:.3f}")


if __name__ == "__main__":
    main()
