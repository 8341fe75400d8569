"""Faces of concurrent jobs restored in shared forwards (ml/batching.py), on CPU.

Each job runs in its own thread through one shared pipeline, as on a GPU worker with several
worker threads. The stand-in networks (tests/ml/slow_models.py) make batching visible and
exact; the last test uses the real CodeFormer on the generated weights and the parity rule.
"""

from __future__ import annotations

import json
import threading

import cv2
import numpy as np
import pytest

from ml.batching import FaceBatcher
from ml.errors import RestorationFailed
from ml.options import RestoreOptions
from tests.ml.slow_models import SlowModels, slow_model_pipeline
from tests.ml.test_parity import MIN_PSNR_DB, case_folders, psnr, read_bgr


@pytest.fixture
def models():
    SlowModels.reset()
    yield SlowModels
    SlowModels.reset()


def photo(seed: int, width: int = 160, height: int = 120) -> np.ndarray:
    return np.random.default_rng(seed).integers(40, 255, (height, width, 3), dtype=np.uint8)


def run_concurrently(pipeline, jobs: list[tuple[np.ndarray, RestoreOptions]]) -> list:
    """Each job in its own thread; returns each job's result or the exception it raised."""
    outcomes: list = [None] * len(jobs)

    def run(index: int) -> None:
        image, options = jobs[index]
        try:
            outcomes[index] = pipeline.restore_array(image, options)
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def test_faces_of_concurrent_jobs_share_one_forward_and_come_back_as_when_alone(models):
    batcher = FaceBatcher(max_batch=4, window_s=60)  # goes as soon as both jobs' 4 faces wait
    batched = slow_model_pipeline(restorer_batch=8, face_batcher=batcher)
    jobs = [(photo(seed), RestoreOptions(fidelity=0.5, upscale=1)) for seed in (1, 2)]

    results = run_concurrently(batched, jobs)

    assert models.restorer_batches == [4] and batcher.forwards == [4]  # one forward, both jobs
    alone = slow_model_pipeline(restorer_batch=8)
    for result, (image, options) in zip(results, jobs, strict=True):
        assert not isinstance(result, Exception), result
        single = alone.restore_array(image, options)
        assert result.faces == single.faces == 2
        assert np.array_equal(result.image, single.image)


def test_faces_with_different_fidelity_are_not_mixed_in_one_forward(models):
    batcher = FaceBatcher(max_batch=4, window_s=60)
    pipeline = slow_model_pipeline(restorer_batch=8, face_batcher=batcher)
    jobs = [(photo(1), RestoreOptions(fidelity=0.2, upscale=1)), (photo(2), RestoreOptions(fidelity=0.9, upscale=1))]

    results = run_concurrently(pipeline, jobs)

    assert sorted(batcher.forwards) == [2, 2]
    alone = slow_model_pipeline(restorer_batch=8)
    for result, (image, options) in zip(results, jobs, strict=True):
        assert np.array_equal(result.image, alone.restore_array(image, options).image)


def test_one_jobs_bad_faces_fail_that_job_only(models):
    batcher = FaceBatcher(max_batch=4, window_s=60)
    pipeline = slow_model_pipeline(restorer_batch=8, face_batcher=batcher)
    black = np.zeros((120, 160, 3), np.uint8)  # the stand-in turns an all-black face into NaN
    jobs = [(photo(1), RestoreOptions(upscale=1)), (black, RestoreOptions(upscale=1))]

    good, bad = run_concurrently(pipeline, jobs)

    assert isinstance(bad, RestorationFailed)
    assert not isinstance(good, Exception) and good.faces == 2
    # The shared forward failed, then each job's faces ran on their own.
    assert models.restorer_batches == [4, 2, 2]


@pytest.mark.slow
def test_batched_codeformer_matches_the_reference_and_the_unbatched_run(pipeline, testdata):
    """The real CodeFormer (generated weights): two aligned faces in one forward of 2."""
    from ml.pipeline import RestorationPipeline

    batched = RestorationPipeline(
        weights_dir=pipeline.weights_dir,
        device="cpu",
        num_threads=2,
        manifest=pipeline.manifest,
        face_batcher=FaceBatcher(max_batch=2, window_s=60),
    )
    # Same models, but restore in batches of 2 (the CPU default is one face per forward).
    batched._models["restorer:codeformer"] = pipeline._restorer("codeformer", _NoJob())
    folder = case_folders()["aligned_0143"]
    params = json.loads((folder / "params.json").read_text())
    options = RestoreOptions(fidelity=params["options"]["w"], has_aligned=True, upscale=2)
    first = read_bgr(folder / "input.png")
    second = cv2.imread(str(testdata / "cropped_faces" / "0240.png"), cv2.IMREAD_COLOR)
    restorer = batched._models["restorer:codeformer"]
    previous, restorer.max_batch = restorer.max_batch, 2
    try:
        results = run_concurrently(batched, [(first, options), (second, options)])
    finally:
        restorer.max_batch = previous
    alone = pipeline.restore_array(second, options)

    assert batched.face_batcher.forwards == [2]
    assert psnr(results[0].internal_image, read_bgr(folder / "expected.png")) >= MIN_PSNR_DB
    assert psnr(results[1].internal_image, alone.internal_image) >= MIN_PSNR_DB


class _NoJob:
    """The pipeline's model loader only times the load against a job."""

    def timed(self, key):
        import contextlib

        return contextlib.nullcontext()
