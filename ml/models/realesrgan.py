"""Real-ESRGAN x2plus (RRDBNet, 23 blocks) for the background and for ``face_upsample``."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F


class BackgroundUpsampler:
    """2x super-resolution of a whole image, tile by tile so memory stays bounded.

    Tensor contract of ``upscale``: ``image`` numpy float32 HxWx3 BGR in [0, 1]; returns numpy
    float32 (2H)x(2W)x3 BGR in [0, 1]. Internally: RGB (1, 3, h, w) tensors, fp16 on CUDA.
    Tiling follows Real-ESRGAN's ``RealESRGANer``: tiles of ``tile`` pixels, each run with a
    ``tile_pad`` margin of real context that is cropped away; ``tile=0`` runs the whole image.
    """

    scale = 2

    def __init__(self, module: torch.nn.Module, device: str, *, tile: int = 400, tile_pad: int = 40) -> None:
        self.dtype = torch.float16 if device == "cuda" else torch.float32
        self.module = module.to(self.dtype)
        self.device = device
        self.tile = tile
        self.tile_pad = tile_pad

    def upscale(self, image: np.ndarray) -> np.ndarray:
        height, width = image.shape[:2]
        rgb = np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1))
        batch = torch.from_numpy(rgb)[None].to(self.device, self.dtype)
        # Pad to an even size once, for the whole image, so every tile is even (pixel-unshuffle).
        mode = "reflect" if min(height, width) > 1 else "replicate"
        batch = F.pad(batch, (0, width % 2, 0, height % 2), mode=mode)
        with torch.inference_mode():
            output = self._tiled(batch) if self.tile > 0 else self.module(batch)
        output = output[:, :, : height * self.scale, : width * self.scale]
        result = output[0].float().clamp(0, 1).cpu().numpy()
        return np.ascontiguousarray(result[::-1].transpose(1, 2, 0))

    def _tiled(self, batch: torch.Tensor) -> torch.Tensor:
        _, channels, height, width = batch.shape
        output = batch.new_zeros((1, channels, height * self.scale, width * self.scale))
        for top in range(0, math.ceil(height / self.tile) * self.tile, self.tile):
            for left in range(0, math.ceil(width / self.tile) * self.tile, self.tile):
                self._tile_into(batch, output, top, left)
        return output

    def _tile_into(self, batch: torch.Tensor, output: torch.Tensor, top: int, left: int) -> None:
        height, width = batch.shape[2:]
        bottom, right = min(top + self.tile, height), min(left + self.tile, width)
        pad_top, pad_left = max(top - self.tile_pad, 0), max(left - self.tile_pad, 0)
        pad_bottom, pad_right = min(bottom + self.tile_pad, height), min(right + self.tile_pad, width)
        tile = self.module(batch[:, :, pad_top:pad_bottom, pad_left:pad_right])
        s = self.scale
        inner_top, inner_left = (top - pad_top) * s, (left - pad_left) * s
        output[:, :, top * s : bottom * s, left * s : right * s] = tile[
            :, :, inner_top : inner_top + (bottom - top) * s, inner_left : inner_left + (right - left) * s
        ]
