"""Device choice for the engine: CUDA (fp16), Apple MPS, or CPU (fp32).

torch is imported inside the functions so that importing this module stays cheap and the
web image (which has no torch) never pulls it in by accident.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

DEVICES = ("cpu", "cuda", "mps")


def resolve_device(requested: str | None) -> str:
    """Turn a setting (None, 'auto', 'cpu', 'cuda', 'mps') into the device the engine uses.

    A forced device that is not available raises ValueError: silently falling back to the
    CPU would make a GPU deployment 50x slower without anyone noticing.
    """
    import torch

    choice = (requested or "auto").strip().lower()
    if choice == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if _mps_available():
            return "mps"
        return "cpu"
    if choice not in DEVICES:
        raise ValueError(f"unknown device {requested!r}; expected one of auto, {', '.join(DEVICES)}")
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was requested but torch sees no CUDA device")
    if choice == "mps" and not _mps_available():
        raise ValueError("device 'mps' was requested but torch sees no MPS device")
    return choice


def compute_dtype(device: str) -> torch.dtype:
    """fp16 on CUDA (tensor cores, half the memory); fp32 elsewhere (CPU fp16 is slow, MPS fp16
    is unreliable for these networks)."""
    import torch

    return torch.float16 if device == "cuda" else torch.float32


def configure_threads(num_threads: int | None) -> None:
    """Pin torch's intra-op pool; a worker sharing a box with others must not grab every core."""
    import torch

    if num_threads is not None:
        torch.set_num_threads(max(1, int(num_threads)))


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
