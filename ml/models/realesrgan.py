"""Real-ESRGAN x2plus (RRDBNet, 23 blocks) for the background and for ``face_upsample``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from ml.cancel import NEVER, CancelToken
from ml.parallel import ONE_AT_A_TIME, ModelPool

# Integer images are converted the way Real-ESRGAN's ``RealESRGANer`` converts them: divided by
# their maximum on the way in; clamped to [0, 1], scaled, rounded and cast on the way out.
_MAXIMA = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


class BackgroundUpsampler:
    """2x super-resolution of a whole image, tile by tile so memory stays bounded.

    Tensor contract of ``upscale``: ``image`` numpy HxWx3 BGR, uint8 (0..255), uint16
    (0..65535) or float32 in [0, 1]; returns (2H)x(2W)x3 BGR of the same dtype and scale.
    Internally: RGB (1, 3, h, w) tensors in [0, 1], fp16 on CUDA, channels_last fp32 on CPU.
    Tiling follows Real-ESRGAN's ``RealESRGANer``: every tile is run with a ``tile_pad`` margin
    of real context that is cropped away; ``tile`` bounds a tile's area (``tile``² pixels, so the
    activations, and memory, stay bounded whatever the image size; ``tile=0`` runs the whole
    image) and ``plan_tiles`` picks the grid. Each tile is converted and written straight into
    the preallocated output, so besides the output only the running tiles' tensors are alive:
    the conversions are elementwise, so the result is the same as converting the whole network
    output at once. With a ``ModelPool`` the tiles run side by side, one per worker; ``cancel``
    is checked before every tile (by the pool while they run).
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

    def upscale(
        self,
        image: np.ndarray,
        cancel: CancelToken = NEVER,
        *,
        tile: int | None = None,
        pool: ModelPool = ONE_AT_A_TIME,
    ) -> np.ndarray:
        """``tile`` overrides the instance's tile size for this call; ``pool`` runs the tiles
        side by side (ml/parallel.py)."""
        return self.upscale_many([image], cancel, tile=tile, pool=pool)[0]

    def upscale_many(
        self,
        images: Sequence[np.ndarray],
        cancel: CancelToken = NEVER,
        *,
        tile: int | None = None,
        pool: ModelPool = ONE_AT_A_TIME,
    ) -> list[np.ndarray]:
        """Several images (the faces of a photo) in one go: every image's tiles are planned for
        its share of the pool's workers and all of them run as one batch of pieces."""
        tile = self.tile if tile is None else tile
        share = max(1, -(-pool.workers // max(1, len(images))))  # workers per image, rounded up
        outputs, pieces = [], []
        for image in images:
            height, width = image.shape[:2]
            outputs.append(np.empty((height * self.scale, width * self.scale, 3), dtype=image.dtype))
            for region in plan_tiles(height, width, tile=tile, pad=self.tile_pad, workers=share):
                pieces.append((image, outputs[-1], region))
        pool.map(self._run_piece, pieces, cancel)
        return outputs

    def _run_piece(self, piece: tuple[np.ndarray, np.ndarray, _Region]) -> None:
        """One tile through the network, written into its place in the output."""
        image, output, (top, left, bottom, right) = piece
        height, width = image.shape[:2]
        s = self.scale
        # The network needs even sizes (pixel-unshuffle): the image is seen as padded by one
        # reflected row/column when odd, and every tile is cut from that padded image.
        padded = (height + height % 2, width + width % 2)
        window = self._window(image, padded, top, left, bottom, right)
        with torch.inference_mode():
            result = self._forward(window.pixels)
        inner = result[window.inner_top * s :, window.inner_left * s :]
        rows, columns = min(bottom, height) - top, min(right, width) - left
        output[top * s : (top + rows) * s, left * s : (left + columns) * s] = inner[: rows * s, : columns * s]

    def _window(
        self, image: np.ndarray, padded: tuple[int, int], top: int, left: int, bottom: int, right: int
    ) -> _Window:
        """The tile plus its context margin, cut from the (virtually) padded image."""
        height, width = image.shape[:2]
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


_Region = tuple[int, int, int, int]  # top, left, bottom, right


def plan_tiles(height: int, width: int, *, tile: int, pad: int, workers: int = 1) -> list[_Region]:
    """The tiles of an image padded to even sizes: (top, left, bottom, right), each at most
    ``tile``² pixels (``tile <= 0``: the whole image in one), in a grid of even-sized tiles.

    The grid is the one with the least estimated time: tiles run ``workers`` at a time, so
    rounds x the largest tile's window (the tile and its ``pad`` margins of context, which are
    computed and thrown away). With one worker that is the fewest margin pixels for the area
    bound — a 640x480 photo in 400-pixel squares computes 403k pixels for 307k, in two 320x480
    halves 346k; with two workers, halves that run side by side.
    """
    rows_total, columns_total = height + height % 2, width + width % 2
    if tile <= 0:
        return [(0, 0, rows_total, columns_total)]
    area, workers = max(4, tile * tile), max(1, workers)
    best: tuple[tuple[int, int], int, int] | None = None
    for rows in range(1, rows_total // 2 + 1):
        tile_h = _even_ceil(rows_total, rows)
        if rows > 1 and tile_h == _even_ceil(rows_total, rows - 1):
            continue  # the same grid as one row fewer
        widest = area // tile_h // 2 * 2
        if widest < 2:
            continue  # rows this tall leave no room for a column
        fewest = -(-columns_total // widest)
        for columns in range(fewest, fewest + workers):
            tile_w = _even_ceil(columns_total, columns)
            count = -(-rows_total // tile_h) * -(-columns_total // tile_w)
            window = min(tile_h + 2 * pad, rows_total) * min(tile_w + 2 * pad, columns_total)
            cost = (-(-count // workers) * window, count * window)
            if best is None or cost < best[0]:
                best = (cost, tile_h, tile_w)
    assert best is not None
    _, tile_h, tile_w = best
    return [
        (top, left, min(top + tile_h, rows_total), min(left + tile_w, columns_total))
        for top in range(0, rows_total, tile_h)
        for left in range(0, columns_total, tile_w)
    ]


def _even_ceil(total: int, parts: int) -> int:
    """``total / parts`` rounded up to an even number (tiles must have even sizes)."""
    size = -(-total // parts)
    return size + size % 2


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
