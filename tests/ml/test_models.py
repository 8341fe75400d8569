"""Checkpoint loading (official layouts, strict, weights_only) and the wrappers' tensor contracts."""

from __future__ import annotations

import json
import pickle
import tracemalloc

import cv2
import numpy as np
import pytest
import torch

from ml import loading
from ml.device import compute_dtype, resolve_device
from ml.errors import WeightsError
from ml.models import RESTORERS
from ml.models.parsenet import FaceParser
from ml.models.realesrgan import BackgroundUpsampler
from ml.models.retinaface import FaceDetector
from tests.ml.checkpoints import OFFICIAL_FILES, tensor_digest

LOADERS = {
    "codeformer": loading.load_codeformer,
    "retinaface_resnet50": loading.load_retinaface,
    "parsenet": loading.load_parsenet,
    "realesrgan_x2plus": loading.load_realesrgan,
    "gfpgan_v1.4": loading.load_gfpgan,
    "restoreformer": loading.load_restoreformer,
}


class NotATensor:
    """Anything but tensors must be refused by the weights_only unpickler."""


@pytest.fixture(scope="module")
def upsampler_module(weights_dir):
    return loading.load_realesrgan(weights_dir / "RealESRGAN_x2plus.pth", "cpu")


@pytest.mark.parametrize("name", sorted(OFFICIAL_FILES))
def test_generated_checkpoints_hold_the_published_tensors(weights_dir, shared_dir, name):
    published = json.loads((shared_dir / "parity" / "weights_checksums.json").read_text())
    filename = OFFICIAL_FILES[name]

    state = loading.read_state_dict(weights_dir / filename)

    assert tensor_digest(state) == published["files"][filename]["tensor_data_sha256"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LOADERS))
def test_each_checkpoint_loads_strictly_into_its_network(weights_dir, manifest, name):
    path = loading.checkpoint_path(name, weights_dir, manifest)
    state = loading.read_state_dict(path)

    module = LOADERS[name](path, "cpu")

    assert not module.training
    loaded = module.state_dict()
    if name != "realesrgan_x2plus":  # spandrel renames RRDBNet keys to its ESRGAN layout
        assert set(loaded) == set(state)
        key = next(k for k, v in state.items() if v.dtype.is_floating_point and v.ndim > 1)
        assert torch.equal(loaded[key], state[key])
    assert sum(v.numel() for v in loaded.values()) == sum(v.numel() for v in state.values())


def test_official_wrappers_and_dataparallel_prefixes_are_unwrapped(tmp_path):
    tensor = torch.arange(4.0)
    torch.save({"params_ema": {"a": tensor}, "params": {"a": tensor * 0}}, tmp_path / "ema.pth")
    torch.save({"params": {"a": tensor}}, tmp_path / "params.pth")
    torch.save({"module.a": tensor}, tmp_path / "module.pth")

    for name in ("ema.pth", "params.pth", "module.pth"):
        state = loading.read_state_dict(tmp_path / name)
        assert list(state) == ["a"] and torch.equal(state["a"], tensor), name


def test_a_checkpoint_with_a_prefixed_detector_layout_loads(weights_dir, tmp_path):
    state = loading.read_state_dict(weights_dir / "detection_Resnet50_Final.pth")
    torch.save({f"module.{key}": value for key, value in state.items()}, tmp_path / "det.pth")

    module = loading.load_retinaface(tmp_path / "det.pth", "cpu")

    assert torch.equal(module.state_dict()["fpn.output1.0.weight"], state["fpn.output1.0.weight"])


def test_a_pickle_with_objects_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with path.open("wb") as handle:
        pickle.dump({"params_ema": {"a": NotATensor()}}, handle)

    with pytest.raises(WeightsError, match=r"evil\.pth.*fetch_weights"):
        loading.read_state_dict(path)


def test_a_truncated_checkpoint_is_a_weights_error(weights_dir, tmp_path):
    data = (weights_dir / "parsing_parsenet.pth").read_bytes()
    (tmp_path / "parsing_parsenet.pth").write_bytes(data[: len(data) // 2])

    with pytest.raises(WeightsError, match=r"parsing_parsenet\.pth.*fetch_weights"):
        loading.load_parsenet(tmp_path / "parsing_parsenet.pth", "cpu")


def test_a_checkpoint_missing_a_tensor_is_refused(weights_dir, tmp_path):
    state = loading.read_state_dict(weights_dir / "parsing_parsenet.pth")
    state.pop(next(iter(state)))
    torch.save(state, tmp_path / "parsing_parsenet.pth")

    with pytest.raises(WeightsError, match="does not match"):
        loading.load_parsenet(tmp_path / "parsing_parsenet.pth", "cpu")


def test_the_wrong_network_file_is_refused(weights_dir):
    with pytest.raises(WeightsError, match="not a CodeFormer checkpoint"):
        loading.load_codeformer(weights_dir / "parsing_parsenet.pth", "cpu")


def test_a_missing_checkpoint_names_the_file_and_the_fix(tmp_path, manifest):
    with pytest.raises(WeightsError, match=r"codeformer\.pth.*fetch_weights"):
        loading.checkpoint_path("codeformer", tmp_path, manifest)


def test_every_restorer_names_a_known_checkpoint(manifest):
    assert {spec.checkpoint for spec in RESTORERS.values()} <= set(manifest)


def test_the_upsampler_doubles_odd_sizes_into_0_1(upsampler_module):
    image = np.random.default_rng(1).random((17, 23, 3), dtype=np.float32)

    result = BackgroundUpsampler(upsampler_module, "cpu", tile=0).upscale(image)

    assert result.shape == (34, 46, 3) and result.dtype == np.float32
    assert result.min() >= 0 and result.max() <= 1


def test_tiled_and_untiled_upsampling_agree(upsampler_module, shared_dir):
    photo = cv2.imread(str(shared_dir / "testdata" / "whole_imgs" / "04.jpg"), cv2.IMREAD_COLOR)
    image = cv2.resize(photo, (96, 56), interpolation=cv2.INTER_AREA).astype(np.float32) / 255

    whole = BackgroundUpsampler(upsampler_module, "cpu", tile=0).upscale(image)
    # 3x2 tiles; a 16-pixel margin of context is enough for seams under one grey level.
    tiled = BackgroundUpsampler(upsampler_module, "cpu", tile=32, tile_pad=16).upscale(image)

    unsaturated = (whole > 0.02) & (whole < 0.98)
    assert unsaturated.mean() > 0.01  # the comparison is not between two blank images
    assert np.abs(whole - tiled).max() * 255 < 1.0


@pytest.mark.parametrize("tile", [0, 32])
def test_integer_images_are_upsampled_tile_by_tile_as_if_converted_at_once(upsampler_module, shared_dir, tile):
    photo = cv2.imread(str(shared_dir / "testdata" / "whole_imgs" / "04.jpg"), cv2.IMREAD_COLOR)
    image = cv2.resize(photo, (95, 57), interpolation=cv2.INTER_AREA)  # odd: the padded edge too
    upsampler = BackgroundUpsampler(upsampler_module, "cpu", tile=tile, tile_pad=16)

    as_float = upsampler.upscale(image.astype(np.float32) / 255.0)
    as_uint8 = upsampler.upscale(image)
    as_uint16 = upsampler.upscale(image.astype(np.uint16) * 257)

    # Real-ESRGAN's own conversion of the whole float output (clamp, *255, round, cast).
    assert as_uint8.dtype == np.uint8 and as_uint8.shape == (114, 190, 3)
    assert np.array_equal(as_uint8, (as_float * 255.0).round().astype(np.uint8))
    assert as_uint16.dtype == np.uint16 and as_uint16.shape == (114, 190, 3)
    assert np.abs(as_uint16 / 65535.0 - as_float).max() < 1e-4  # 16 bits kept, not 8


def test_tiles_run_side_by_side_give_the_tiles_run_in_turn(upsampler_module, shared_dir):
    from ml.parallel import ModelPool

    photo = cv2.imread(str(shared_dir / "testdata" / "whole_imgs" / "04.jpg"), cv2.IMREAD_COLOR)
    image = cv2.resize(photo, (95, 57), interpolation=cv2.INTER_AREA)
    upsampler = BackgroundUpsampler(upsampler_module, "cpu", tile=32, tile_pad=16)
    pool = ModelPool(2)
    try:
        pooled = upsampler.upscale(image, pool=pool)
        faces = upsampler.upscale_many([image, image[:40, :50]], pool=pool)
    finally:
        pool.close()
    in_turn = upsampler.upscale(image)

    # One torch thread per tile against the caller's threads: float reduction order only.
    assert pooled.shape == in_turn.shape == (114, 190, 3)
    assert np.abs(pooled.astype(int) - in_turn.astype(int)).max() <= 1
    assert np.abs(faces[0].astype(int) - in_turn.astype(int)).max() <= 1
    assert faces[1].shape == (80, 100, 3)


def test_on_cpu_the_upsampler_runs_channels_last_and_gives_the_default_layouts_result(upsampler_module):
    # channels_last is about 2x faster per tile on CPU; the layouts differ by float reduction
    # order only, far below one grey level.
    image = np.random.default_rng(5).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    upsampler = BackgroundUpsampler(upsampler_module, "cpu", tile=0)
    assert upsampler.memory_format == torch.channels_last
    fast = upsampler.upscale(image.astype(np.float32) / 255)

    upsampler.memory_format = torch.contiguous_format
    upsampler.module = upsampler_module.to(memory_format=torch.contiguous_format)
    plain = upsampler.upscale(image.astype(np.float32) / 255)

    assert np.abs(fast - plain).max() < 1e-3


def test_the_upsampler_holds_one_output_and_one_tile(upsampler_module):
    """The arrays it allocates grow with the uint8 output only: no image-sized float copies
    (tracemalloc sees numpy's buffers; the network's own tensors are per tile)."""
    upsampler = BackgroundUpsampler(upsampler_module, "cpu", tile=16, tile_pad=8)
    peaks = {}
    for height, width in ((48, 64), (96, 144)):  # 12 and 54 tiles, both with inner ones
        image = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
        tracemalloc.start()
        output = upsampler.upscale(image)
        peaks[height] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert output.shape == (2 * height, 2 * width, 3)

    output_growth = 4 * (96 * 144 - 48 * 64) * 3  # bytes: 2x the size, 3 channels, uint8
    assert peaks[96] - peaks[48] < 1.1 * output_growth


def test_the_parser_labels_each_pixel_with_one_of_19_classes(weights_dir):
    parser = FaceParser(loading.load_parsenet(weights_dir / "parsing_parsenet.pth", "cpu"), "cpu")
    faces = torch.rand(1, 3, 512, 512) * 2 - 1

    labels = parser.parse(faces)

    assert labels.shape == (1, 512, 512)
    assert labels.min() >= 0 and labels.max() <= 18


def test_the_detector_returns_rows_of_box_score_and_5_landmarks(weights_dir):
    detector = FaceDetector(loading.load_retinaface(weights_dir / "detection_Resnet50_Final.pth", "cpu"), "cpu")
    image = np.random.default_rng(2).integers(0, 256, (96, 128, 3), dtype=np.uint8)

    rows = detector.detect(image)

    assert rows.dtype == np.float32 and rows.ndim == 2 and rows.shape[1] == 15
    assert np.all(rows[:, 4] > 0.8)


def test_the_device_is_chosen_automatically_or_forced():
    expected = "cuda" if torch.cuda.is_available() else ("mps" if torch.backends.mps.is_available() else "cpu")

    assert resolve_device(None) == resolve_device("auto") == expected
    assert resolve_device("CPU") == "cpu"
    assert compute_dtype("cuda") == torch.float16 and compute_dtype("cpu") == torch.float32
    with pytest.raises(ValueError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device"):
            resolve_device("cuda")
