"""Real-ESRGAN x2plus (RRDBNet, 23 blocks) for the background and for ``face_upsample``."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ml.cancel import NEVER, CancelToken

# Integer images are converted the way Real-ESRGAN's ``RealESRGANer`` converts them: divided by
# their maximum on the way in; clamped to [0, 1], scaled, rounded and cast on the way out.
_MAXIMA = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


class BackgroundUpsampler:
    """2x super-resolution of a whole image, tile by tile so memory stays bounded.

    Tensor contract of ``upscale``: ``image`` numpy HxWx3 BGR, uint8 (0..255), uint16
    (0..65535) or float32 in [0, 1]; returns (2H)x(2W)x3 BGR of the same dtype and scale.
    Internally: RGB (1, 3, h, w) tensors in [0, 1], fp16 on CUDA, channels_last fp32 on CPU.
    Tiling follows Real-ESRGAN's ``RealESRGANer``: tiles of ``tile`` pixels, each run with a
    ``tile_pad`` margin of real context that is cropped away; ``tile=0`` runs the whole image.
    Each tile is converted and written straight into the preallocated output, so besides the
    output only one tile's tensors are alive: the conversions are elementwise, so the result
    is the same as converting the whole network output at once. ``cancel`` is checked before
    every tile.
    """

    scale = 2

    def __init__(self, module: torch.nn.Module, device: str, *, tile: int = 400, tile_pad: int = 40) -> None:
        self.dtype = torch.float16 if device == "cuda" else torch.float32
        # On CPU channels_last runs a tile about twice as fast (oneDNN's blocked convolutions);
        # the outputs differ from the default layout by float reduction order only (~1e-4).
        self.memory_format = torch.channels_last if device == "cpu" else torch.contiguous_format
        self.module = module.to(self.dtype, memory_format=self.memory_format)
        self.device = device
        self.tile = tile
        self.tile_pad = tile_pad

    def upscale(self, image: np.ndarray, cancel: CancelToken = NEVER, *, tile: int | None = None) -> np.ndarray:
        """``tile`` overrides the instance's tile size for this call."""
        height, width = image.shape[:2]
        s = self.scale
        output = np.empty((height * s, width * s, 3), dtype=image.dtype)
        # The network needs even sizes (pixel-unshuffle): the image is seen as padded by one
        # reflected row/column when odd, and every tile is cut from that padded image.
        padded = (height + height % 2, width + width % 2)
        tile = self.tile if tile is None else tile
        tile = tile if tile > 0 else max(padded)
        with torch.inference_mode():
            for top in range(0, height, tile):
                for left in range(0, width, tile):
                    cancel.check()
                    bottom, right = min(top + tile, height), min(left + tile, width)
                    window = self._window(image, padded, top, left, tile)
                    result = self._forward(window.pixels)
                    inner = result[window.inner_top * s :, window.inner_left * s :]
                    output[top * s : bottom * s, left * s : right * s] = inner[
                        : (bottom - top) * s, : (right - left) * s
                    ]
        return output

    def _window(self, image: np.ndarray, padded: tuple[int, int], top: int, left: int, tile: int) -> _Window:
        """The tile plus its context margin, cut from the (virtually) padded image."""
        height, width = image.shape[:2]
        bottom, right = min(top + tile, padded[0]), min(left + tile, padded[1])
        pad_top, pad_left = max(top - self.tile_pad, 0), max(left - self.tile_pad, 0)
        pad_bottom, pad_right = min(bottom + self.tile_pad, padded[0]), min(right + self.tile_pad, padded[1])
        # As F.pad(mode="reflect") on the whole image; "replicate" when a side is 1 pixel.
        reflect = min(height, width) > 1
        rows = _padded_indices(pad_top, pad_bottom, height, reflect)
        columns = _padded_indices(pad_left, pad_right, width, reflect)
        return _Window(image.take(rows, axis=0).take(columns, axis=1), top - pad_top, left - pad_left)

    def _forward(self, pixels: np.ndarray) -> np.ndarray:
        """One window through the network: HxWx3 BGR in the image's dtype -> (2H)x(2W)x3."""
        rgb = torch.from_numpy(np.ascontiguousarray(pixels[:, :, ::-1].transpose(2, 0, 1)))[None]
        maximum = _MAXIMA.get(pixels.dtype)
        # Divided in numpy, as the untiled path divided the whole image (IEEE float32 division).
        rgb = rgb if maximum is None else torch.from_numpy(rgb.numpy().astype(np.float32) / np.float32(maximum))
        output = self.module(rgb.to(self.device, self.dtype).contiguous(memory_format=self.memory_format))
        result = output[0].float().clamp(0, 1).cpu().numpy()[::-1].transpose(1, 2, 0)
        if maximum is None:
            return result
        return (result * maximum).round().astype(pixels.dtype)


class _Window(NamedTuple):
    pixels: np.ndarray  # the tile and its context margin
    inner_top: int  # where the tile starts inside it
    inner_left: int


def _padded_indices(start: int, stop: int, size: int, reflect: bool) -> np.ndarray:
    """Source indices of positions start..stop-1 along an axis padded past ``size``."""
    index = np.arange(start, stop)
    beyond = index >= size
    index[beyond] = 2 * (size - 1) - index[beyond] if reflect else size - 1
    return index
