"""Checkpoints in the official formats, with random values, for tests that have no real weights.

The four files of CodeFormer's own pipeline (codeformer, RetinaFace, ParseNet, Real-ESRGAN
x2plus) come from shared/parity/make_weights.py, so they are exactly the tensors the parity
cases were computed with. GFPGAN v1.4 and RestoreFormer follow the same value rule, applied to
the key list of spandrel's architecture (the official layouts: ``{'params_ema': state_dict}``).

Generation takes ~10 s and ~1.3 GB, so the files are cached in a folder keyed by the published
tensor digests and this module's rule version (``ML_TEST_WEIGHTS_CACHE`` overrides the root).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import torch

from ml.weights import MANIFEST, Checkpoint

REPO = Path(__file__).resolve().parents[2]
OFFICIAL_FILES = {
    "codeformer": "codeformer.pth",
    "retinaface_resnet50": "detection_Resnet50_Final.pth",
    "parsenet": "parsing_parsenet.pth",
    "realesrgan_x2plus": "RealESRGAN_x2plus.pth",
}
EXTRA_FILES = {"gfpgan_v1.4": "GFPGANv1.4.pth", "restoreformer": "RestoreFormer.pth"}
_RULE_VERSION = "1"  # bump when the extra checkpoints' construction changes


def shared_dir() -> Path:
    default = REPO.parent / "shared"
    return Path(os.environ.get("SHARED_DIR", default))


def cache_root() -> Path:
    return Path(os.environ.get("ML_TEST_WEIGHTS_CACHE", REPO / ".cache" / "ml-test-weights"))


def build_test_weights(shared: Path) -> Path:
    """A folder holding all six checkpoints, generated on first use and reused afterwards."""
    checksums = (shared / "parity" / "weights_checksums.json").read_bytes()
    key = hashlib.sha256(checksums + _RULE_VERSION.encode()).hexdigest()[:16]
    target = cache_root() / key
    if (target / "complete").is_file():
        return target
    staging = cache_root() / f".{key}.{uuid.uuid4().hex}"
    staging.mkdir(parents=True)
    try:
        _generate(shared, staging)
        (staging / "complete").write_text("ok\n")
        staging.rename(target)  # atomic; a concurrent session that won the race is fine too
    except OSError:
        if not (target / "complete").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def manifest_for(weights_dir: Path) -> dict[str, Checkpoint]:
    """ml.weights' manifest with the generated files' sizes and no sha256 (random values)."""
    manifest = {}
    for name, checkpoint in MANIFEST.items():
        path = weights_dir / checkpoint.filename
        if path.is_file():
            manifest[name] = dataclasses.replace(checkpoint, size=path.stat().st_size, sha256=None)
    return manifest


def tensor_digest(state: Mapping[str, torch.Tensor]) -> str:
    """The digest weights_checksums.json publishes: sha256 over raw tensor bytes in key order."""
    digest = hashlib.sha256()
    for tensor in state.values():
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def random_state_dict(module: torch.nn.Module, rule: ModuleType) -> dict[str, torch.Tensor]:
    """The module's keys and shapes, filled by make_weights.py's per-key deterministic rule."""
    return {
        key: rule.make_tensor(key, list(value.shape), str(value.dtype).removeprefix("torch."))
        for key, value in module.state_dict().items()
    }


def make_weights_module(shared: Path) -> ModuleType:
    path = shared / "parity" / "make_weights.py"
    spec = importlib.util.spec_from_file_location("parity_make_weights", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generate(shared: Path, folder: Path) -> None:
    script = shared / "parity" / "make_weights.py"
    subprocess.run([sys.executable, str(script), str(folder)], check=True, capture_output=True)
    rule = make_weights_module(shared)
    for name, build in (("gfpgan_v1.4", _gfpgan_module), ("restoreformer", _restoreformer_module)):
        state = random_state_dict(build(), rule)
        torch.save({"params_ema": state}, folder / EXTRA_FILES[name])


def _gfpgan_module() -> torch.nn.Module:
    from spandrel.architectures.GFPGAN import GFPGAN

    # GFPGANer's construction of v1.4 (arch 'clean', channel_multiplier 2).
    return GFPGAN(
        out_size=512,
        num_style_feat=512,
        channel_multiplier=2,
        decoder_load_path=None,
        fix_decoder=False,
        num_mlp=8,
        input_is_latent=True,
        different_w=True,
        narrow=1,
        sft_half=True,
    )


def _restoreformer_module() -> torch.nn.Module:
    from spandrel.architectures.RestoreFormer import RestoreFormer

    return RestoreFormer()  # the defaults are GFPGANer's RestoreFormer() construction
