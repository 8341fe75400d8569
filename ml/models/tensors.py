"""Conversions between OpenCV face images and the [-1, 1] RGB tensors the face networks take.

The arithmetic copies basicsr's ``img2tensor``/``normalize``/``tensor2img`` operation for
operation (float64 division for crops, float32 for parser inputs, round-half-even on output):
the parity fixture is sensitive to a single rounding step.
"""

from __future__ import annotations

import numpy as np
import torch


def crops_to_tensor(crops: list[np.ndarray], device: str) -> torch.Tensor:
    """Crops (512x512x3 BGR, 0..255, any dtype) -> float32 (N, 3, 512, 512) RGB in [-1, 1]."""
    arrays = [(crop.astype(np.float64) / 255.0).astype(np.float32) for crop in crops]
    return _normalize(arrays, device)


def faces_to_parser_tensor(faces: list[np.ndarray], device: str) -> torch.Tensor:
    """Restored faces -> parser input; the reference divides in float32 here, not float64."""
    arrays = [face.astype(np.float32) / 255.0 for face in faces]
    return _normalize(arrays, device)


def tensor_to_faces(batch: torch.Tensor) -> list[np.ndarray]:
    """(N, 3, H, W) RGB in [-1, 1] -> list of HxWx3 BGR uint8 (clamped, rounded half to even)."""
    scaled = ((batch.detach().float().cpu().clamp(-1, 1) + 1) / 2 * 255.0).round()
    images = scaled.flip(1).permute(0, 2, 3, 1).numpy()
    return [np.ascontiguousarray(image).astype(np.uint8) for image in images]


def _normalize(arrays: list[np.ndarray], device: str) -> torch.Tensor:
    # BGR -> RGB, HWC -> CHW; (x - 0.5) / 0.5 as torchvision's normalize does it in float32.
    stacked = np.stack([array[:, :, ::-1].transpose(2, 0, 1) for array in arrays])
    batch = torch.from_numpy(np.ascontiguousarray(stacked)).to(device)
    return (batch - 0.5) / 0.5
