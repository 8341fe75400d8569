"""The restoration engine a worker process runs, built once per process.

``settings.RESTORATION_ENGINE`` names the factory (a dotted path to a callable returning an object
with ``restore(data, options, on_progress=...)`` and ``device``). The real factory imports torch,
so nothing here imports ``ml.pipeline`` at module level: the web image has no torch.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

_lock = threading.Lock()
# Keyed by the factory path so a test that points RESTORATION_ENGINE elsewhere gets its own engine.
_engines: dict[str, Any] = {}


def build_pipeline() -> Any:
    """The production engine: the real CodeFormer pipeline from ``ml/``."""
    from ml.batching import FaceBatcher  # lazy: torch lives only in the worker image
    from ml.pipeline import RestorationPipeline

    batcher = None
    if settings.ML_FACE_BATCH > 1:
        batcher = FaceBatcher(max_batch=settings.ML_FACE_BATCH, window_s=settings.ML_FACE_BATCH_WINDOW_MS / 1000)
    return RestorationPipeline(
        weights_dir=settings.WEIGHTS_DIR,
        device=None if settings.ML_DEVICE == "auto" else settings.ML_DEVICE,
        enabled_models=settings.ENABLED_MODELS,
        bg_tile=settings.ML_BG_TILE,
        max_output_pixels=settings.MAX_OUTPUT_PIXELS,
        num_threads=settings.ML_NUM_THREADS,
        face_batcher=batcher,
        parallel=settings.ML_CPU_PARALLEL,
    )


def get_engine() -> Any:
    """The per-process engine. Loading weights is slow, so the lock makes concurrent first calls
    wait for one build instead of each loading its own copy."""
    path = settings.RESTORATION_ENGINE
    engine = _engines.get(path)
    if engine is not None:
        return engine
    with _lock:
        engine = _engines.get(path)
        if engine is None:
            engine = import_string(path)()
            _engines[path] = engine
    return engine


def loaded_engine() -> Any | None:
    """The engine if this process already built it (never triggers a load)."""
    return _engines.get(settings.RESTORATION_ENGINE)


def reset_engine() -> None:
    """Forget the cached engines (tests that switch RESTORATION_ENGINE)."""
    with _lock:
        _engines.clear()


PIPELINE_FACTORY = "jobs.engine.build_pipeline"


def missing_weights() -> list[str]:
    """The enabled models whose checkpoints are not installed, when the production pipeline is
    the engine (a size check per file, cheap enough for a page); [] for any other engine, which
    brings its own models. Reads ``ml.weights`` only, never torch."""
    if settings.RESTORATION_ENGINE != PIPELINE_FACTORY:
        return []
    from ml.weights import MODELS, missing_checkpoints, weights_status

    statuses = weights_status(settings.WEIGHTS_DIR)
    return [name for name in settings.ENABLED_MODELS if name in MODELS and missing_checkpoints(MODELS[name], statuses)]
