"""Every checkpoint the engine reads is loaded here, with ``torch.load(weights_only=True)``.

Each loader builds the network from a maintained implementation (spandrel, spandrel-extra-arches,
facexlib's network classes), loads the official file strictly and returns it in eval mode on
``device``. Nothing here downloads: a missing or unreadable file is a ``WeightsError`` that tells
the operator to run ``python manage.py fetch_weights``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from spandrel import Architecture
from spandrel.architectures.ESRGAN import ESRGANArch
from spandrel.architectures.GFPGAN import GFPGANArch
from spandrel.architectures.RestoreFormer import RestoreFormerArch

from ml.errors import WeightsError
from ml.weights import MANIFEST, Checkpoint, resolve_checkpoint

with warnings.catch_warnings():
    # Its CodeFormer module applies torch.jit.script at import, which torch 2.14 deprecates.
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
    from spandrel_extra_arches.architectures.CodeFormer import CodeFormerArch

StateDict = dict[str, torch.Tensor]

_FETCH_HINT = "run `python manage.py fetch_weights`"


def checkpoint_path(name: str, weights_dir: Path, manifest: Mapping[str, Checkpoint] | None = None) -> Path:
    """Where checkpoint ``name`` lives, after ml.weights' size check (WeightsError if unusable).

    ``manifest`` replaces ml.weights' manifest; tests pass one describing their generated files.
    """
    return resolve_checkpoint(name, Path(weights_dir), manifest=MANIFEST if manifest is None else manifest)


def read_state_dict(path: Path) -> StateDict:
    """The tensors of a .pth file: unwraps ``params_ema`` (else ``params``), strips ``module.``."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path.name} is missing; {_FETCH_HINT}") from None
    except Exception as exc:  # truncated zip, pickle refusing a non-tensor object, ...
        raise WeightsError(f"{path.name} cannot be read ({exc.__class__.__name__}); {_FETCH_HINT}") from exc
    if isinstance(loaded, dict):
        for wrapper in ("params_ema", "params"):
            if isinstance(loaded.get(wrapper), dict):
                loaded = loaded[wrapper]
                break
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsError(f"{path.name} is not a state dict of tensors; {_FETCH_HINT}")
    # DataParallel checkpoints (the RetinaFace release) prefix every key with 'module.'.
    return {key.removeprefix("module."): value for key, value in loaded.items()}


def load_codeformer(path: Path, device: str) -> torch.nn.Module:
    return _load_spandrel(path, CodeFormerArch(), device)


def load_gfpgan(path: Path, device: str) -> torch.nn.Module:
    return _load_spandrel(path, GFPGANArch(), device)


def load_restoreformer(path: Path, device: str) -> torch.nn.Module:
    return _load_spandrel(path, RestoreFormerArch(), device)


def load_realesrgan(path: Path, device: str) -> torch.nn.Module:
    """RRDBNet; spandrel renames the new-style keys to its ESRGAN layout before a strict load."""
    return _load_spandrel(path, ESRGANArch(), device)


def load_retinaface(path: Path, device: str) -> torch.nn.Module:
    from facexlib.detection.retinaface import RetinaFace

    # Built directly (not via init_detection_model) so facexlib never tries to download.
    return _load_module(path, lambda: RetinaFace(network_name="resnet50", half=False, device=device), device)


def load_parsenet(path: Path, device: str) -> torch.nn.Module:
    from facexlib.parsing.parsenet import ParseNet

    return _load_module(path, lambda: ParseNet(in_size=512, out_size=512, parsing_ch=19), device)


def _load_spandrel(path: Path, arch: Architecture, device: str) -> torch.nn.Module:
    state = read_state_dict(path)
    if not arch.detect(state):
        raise WeightsError(f"{path.name} is not a {arch.id} checkpoint; {_FETCH_HINT}")
    try:
        descriptor = arch.load(state)  # strict load_state_dict inside
    except Exception as exc:
        raise WeightsError(f"{path.name} does not match the {arch.id} architecture: {exc}; {_FETCH_HINT}") from exc
    return descriptor.model.eval().to(device)


def _load_module(path: Path, build: Callable[[], torch.nn.Module], device: str) -> torch.nn.Module:
    state = read_state_dict(path)
    with warnings.catch_warnings():
        # torchvision's resnet50(pretrained=False) inside RetinaFace warns about a deprecated argument.
        warnings.simplefilter("ignore", UserWarning)
        model = build()
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{path.name} does not match the network: {exc}; {_FETCH_HINT}") from exc
    return model.eval().to(device)
