"""Device choice for the engine: CUDA (fp16), Apple MPS, or CPU (fp32).

torch is imported inside the functions so that importing this module stays cheap and the
web image (which has no torch) never pulls it in by accident.
"""

from __future__ import annotations

import ctypes
import sys
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


# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
_KEEP_FREED_BYTES = 1 << 30


def keep_freed_memory() -> bool:
    """Let glibc keep the memory of freed tensors for the next forward instead of handing it
    back to the kernel. Returns whether the settings were applied (glibc on Linux only).

    A Real-ESRGAN forward allocates and frees gigabytes in tensors of 8 to 270 MB. By default
    glibc serves each from a fresh mmap and unmaps it on free, so every forward faults its pages
    in again: on this CPU two 512-pixel faces side by side took 4.1 million page faults and
    11 s of system time for ~60 s of compute. With mmap off, the trim threshold at 1 GiB and
    one arena (threads that start later share the main heap), the second forward faults
    nothing. Process-wide, so it is called once by the CPU pipeline; the price is that a worker
    keeps up to its peak resident after a job (which it needs again for the next one). The
    same can be set from outside with MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_=1073741824 and
    MALLOC_ARENA_MAX=1.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): leave its allocator alone
        return False
    applied = [mallopt(_M_MMAP_MAX, 0), mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES), mallopt(_M_ARENA_MAX, 1)]
    return all(value == 1 for value in applied)


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())
