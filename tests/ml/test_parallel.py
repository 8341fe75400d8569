"""ml/parallel.py: independent model calls side by side, one torch thread each, cancel between
them; and the tile plans that feed it (ml/models/realesrgan.plan_tiles)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from ml.cancel import Cancelled, CancelToken
from ml.models.realesrgan import plan_tiles
from ml.parallel import ModelPool

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def pool():
    pool = ModelPool(2)
    yield pool
    pool.close()


def test_pieces_run_side_by_side_on_one_torch_thread_each_and_come_back_in_order(pool):
    both_started = threading.Barrier(2, timeout=10)  # broken (an error) unless two run at once
    seen = []

    def piece(value: int) -> int:
        if value < 2:
            both_started.wait()
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return value * 10

    caller_threads = torch.get_num_threads()
    assert pool.map(piece, range(5)) == [0, 10, 20, 30, 40]
    assert all(name.startswith("ml-model") and threads == 1 for name, threads in seen)
    assert torch.get_num_threads() == caller_threads  # the caller's own setting is untouched


def test_one_piece_runs_in_the_callers_thread_with_the_callers_threads(pool):
    seen = []
    pool.map(lambda _: seen.append(threading.current_thread()), [1])
    assert seen == [threading.current_thread()]


def test_a_cancel_stops_further_pieces_and_waits_for_the_running_one(pool):
    token = CancelToken()
    started, finished = [], []

    def piece(value: int) -> int:
        started.append(value)
        if value == 0:
            token.cancel("canceled by the client")
        finished.append(value)
        return value

    with pytest.raises(Cancelled, match="canceled by the client"):
        pool.map(piece, range(20), token)

    # Piece 0 cancels; at most the piece already handed to the other worker runs too.
    assert len(started) <= 2 and sorted(finished) == sorted(started)


def test_a_failing_piece_raises_its_error_and_no_piece_starts_after_it(pool):
    started = []

    def piece(value: int) -> int:
        started.append(value)
        if value == 1:
            raise ValueError("bad face")
        return value

    with pytest.raises(ValueError, match="bad face"):
        pool.map(piece, range(20))
    assert len(started) <= 4  # the two first, and at most one more per worker before the error is seen


def test_a_pool_of_one_runs_every_piece_in_the_callers_thread():
    pool = ModelPool(1)
    names = pool.map(lambda _: threading.current_thread().name, range(3))
    assert names == [threading.current_thread().name] * 3


def covered(tiles, height, width):
    grid = torch.zeros((height, width), dtype=torch.int32)
    for top, left, bottom, right in tiles:
        grid[top:bottom, left:right] += 1
    return grid


@pytest.mark.parametrize(
    ("height", "width", "tile", "workers"),
    [(480, 640, 400, 1), (480, 640, 400, 2), (512, 512, 512, 2), (1200, 1600, 400, 2), (57, 95, 32, 1), (3, 5, 400, 2)],
)
def test_tiles_cover_the_even_padded_image_once_within_the_area_bound(height, width, tile, workers):
    tiles = plan_tiles(height, width, tile=tile, pad=40, workers=workers)
    padded_h, padded_w = height + height % 2, width + width % 2
    assert bool((covered(tiles, padded_h, padded_w) == 1).all())
    for top, left, bottom, right in tiles:
        assert (bottom - top) % 2 == 0 and (right - left) % 2 == 0  # pixel-unshuffle needs even sizes
        assert (bottom - top) * (right - left) <= max(tile * tile, 4)


def test_the_tile_plan_computes_fewer_margin_pixels_and_fills_the_workers():
    # A 640x480 background: two 320x480 halves (with their margins 346k pixels) instead of
    # four 400-pixel squares (403k), and the halves run side by side on two workers.
    assert plan_tiles(480, 640, tile=400, pad=40, workers=2) == [(0, 0, 480, 320), (0, 320, 480, 640)]
    # One 512 face fits one tile; with two workers it is cut in halves so both are busy.
    assert plan_tiles(512, 512, tile=512, pad=40, workers=1) == [(0, 0, 512, 512)]
    assert len(plan_tiles(512, 512, tile=512, pad=40, workers=2)) == 2
    assert plan_tiles(17, 23, tile=0, pad=40) == [(0, 0, 18, 24)]


KEEP_FREED_CHECK = """
import resource, sys
import torch
from ml.device import keep_freed_memory

applied = keep_freed_memory() if sys.argv[1] == "keep" else False
torch.set_num_threads(1)
conv = torch.nn.Conv2d(16, 16, 3, padding=1)
image = torch.rand(1, 16, 1024, 1024)  # 64 MB a feature map, like a large Real-ESRGAN tile's
def faults_of_a_forward():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    with torch.inference_mode():
        conv(conv(conv(image)))
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(applied, *[faults_of_a_forward() for _ in range(5)])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_freed_memory_is_reused_by_the_next_forward_without_faulting_its_pages_in():
    def run(mode: str) -> tuple[str, list[int]]:
        out = subprocess.run(
            [sys.executable, "-c", KEEP_FREED_CHECK, mode], capture_output=True, text=True, check=True, cwd=REPO
        ).stdout.split()
        return out[0], [int(value) for value in out[1:]]

    applied, kept = run("keep")
    _, default = run("default")
    assert applied == "True"
    # By default every 64 MB tensor is a fresh mmap: each forward faults ~49,000 pages per map
    # in again. Kept, the later forwards reuse the first one's memory (all four together
    # fault in fewer pages than one forward does by default).
    assert min(default[1:]) > 100_000
    assert sum(kept[1:]) < min(default[1:])
