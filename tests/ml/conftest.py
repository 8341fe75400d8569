"""Session fixtures of the engine tests: generated checkpoints and one shared pipeline.

The networks are slow on CPU (CodeFormer ~7 s a face), so every test that runs them shares
the session's pipeline, which loads each model once, as a worker process does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ml.checkpoints import build_test_weights, manifest_for

ALL_MODELS = ("codeformer", "gfpgan", "restoreformer")


@pytest.fixture(scope="session")
def weights_dir(shared_dir: Path) -> Path:
    return build_test_weights(shared_dir)


@pytest.fixture(scope="session")
def manifest(weights_dir: Path) -> dict:
    return manifest_for(weights_dir)


@pytest.fixture(scope="session")
def pipeline(weights_dir: Path, manifest: dict):
    from ml.pipeline import RestorationPipeline

    # 2 threads: the parity references were computed with torch.set_num_threads(2).
    return RestorationPipeline(
        weights_dir=weights_dir, device="cpu", enabled_models=ALL_MODELS, num_threads=2, manifest=manifest
    )


@pytest.fixture(scope="session")
def testdata(shared_dir: Path) -> Path:
    return shared_dir / "testdata"
