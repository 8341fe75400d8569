"""A small stand-in for ml.pipeline.RestorationPipeline, for tests of the job flow.

It does real image work with the same API: decodes with ml.imageio (so bad input raises the
real InvalidImage), reports the stages through on_progress, upscales with nearest-neighbour
repetition, and encodes a PNG. Class attributes steer it from a test: ``fail_with`` raises an
exception instead of restoring (``before_fail`` runs just before it), ``gate`` (a
threading.Event) blocks inside the run until set, ``busy_s`` keeps the thread busy in Python
(so Dramatiq's time limit can interrupt it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ml.imageio import decode_image, encode_png


@dataclass
class FakeResult:
    png: bytes
    width: int
    height: int
    faces: int
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    upscale: int | None = None


class FakeEngine:
    device = "cpu"
    enabled_models = ["codeformer"]
    fail_with: BaseException | None = None
    # Called just before fail_with is raised (to leave the database connection mid-command, as
    # an interrupt landing inside the driver does).
    before_fail: Callable[[], None] | None = None
    gate: threading.Event | None = None
    busy_s: float = 0.0
    # Deliver this upscale instead of the one asked for (as the real pipeline does when the
    # output cap forces a lower one).
    deliver_upscale: int | None = None
    started = threading.Event()
    calls = 0

    @classmethod
    def reset(cls) -> None:
        cls.fail_with = None
        cls.before_fail = None
        cls.gate = None
        cls.busy_s = 0.0
        cls.deliver_upscale = None
        cls.started = threading.Event()
        cls.calls = 0

    def restore(self, data: bytes, options, on_progress=None, cancel=None) -> FakeResult:
        type(self).calls += 1
        progress = on_progress or (lambda stage: None)
        began = time.perf_counter()
        progress("decode")
        decoded = decode_image(data, max_pixels=40_000_000)
        progress("restore")
        scale = self.deliver_upscale or int(options.upscale)
        pixels = np.repeat(np.repeat(decoded.pixels, scale, axis=0), scale, axis=1)
        alpha = None if decoded.alpha is None else np.repeat(np.repeat(decoded.alpha, scale, axis=0), scale, axis=1)
        progress("encode")
        png = encode_png(pixels, alpha)
        # Past the last progress report: what happens from here on is a "late" result.
        type(self).started.set()
        if self.gate is not None:
            self.gate.wait(timeout=30)
        deadline = time.monotonic() + self.busy_s
        while time.monotonic() < deadline:
            sum(range(1000))  # pure Python, so an async exception can land
        if self.fail_with is not None:
            hook = type(self).before_fail  # read off the class: a plain function, not a method
            if hook is not None:
                hook()
            raise self.fail_with
        return FakeResult(
            png=png,
            width=pixels.shape[1],
            height=pixels.shape[0],
            faces=1,
            timings={"decode": 0.001, "restore": round(time.perf_counter() - began, 4)},
            upscale=scale,
        )


class LyingEngine(FakeEngine):
    """Claims success but returns no image: the job must not be COMPLETED."""

    def restore(self, data: bytes, options, on_progress=None, cancel=None) -> FakeResult:
        return FakeResult(png=b"", width=10, height=10, faces=0, timings={})


def generated_weights_pipeline():
    """The REAL ml.pipeline.RestorationPipeline on checkpoints generated in the official formats
    (shared/parity/make_weights.py via tests/ml/checkpoints.py), for the slow end-to-end tests."""
    from ml.pipeline import RestorationPipeline
    from tests.ml.checkpoints import build_test_weights, manifest_for, shared_dir

    weights_dir = build_test_weights(shared_dir())
    return RestorationPipeline(
        weights_dir=weights_dir,
        device="cpu",
        enabled_models=("codeformer",),
        num_threads=2,
        manifest=manifest_for(weights_dir),
    )


class StuckEngine(FakeEngine):
    """For a worker in another process that the test kills: reports its first stage, then never
    finishes (a GPU job in the middle of its forwards)."""

    def restore(self, data: bytes, options, on_progress=None, cancel=None) -> FakeResult:
        (on_progress or (lambda stage: None))("decode")
        time.sleep(3600)
        raise AssertionError("the test should have killed this worker")


def slow_model_pipeline():
    """The REAL pipeline with counted, steerable stand-in networks (tests/ml/slow_models.py):
    for the tests of cancel, time limit and shutdown inside a running job."""
    from tests.ml.slow_models import slow_model_pipeline as build

    return build(bg_tile=32, parallel=2)  # side by side, as a CPU worker runs them
