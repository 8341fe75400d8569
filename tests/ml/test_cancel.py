"""A canceled restoration stops inside the pipeline: between tiles, faces and model calls.

The real pipeline runs with counted stand-in networks (tests/ml/slow_models.py); a stand-in
cancels the token from inside its own forward, as a cancel arriving mid-call would, and the
tests count the model calls that still started afterwards. No wall time is asserted.
"""

from __future__ import annotations

import numpy as np
import pytest

from ml.cancel import NEVER, Cancelled, CancelToken
from ml.options import RestoreOptions
from tests.ml.slow_models import SlowModels, slow_model_pipeline


@pytest.fixture
def models():
    SlowModels.reset()
    yield SlowModels
    SlowModels.reset()


@pytest.fixture
def pipeline():
    return slow_model_pipeline(bg_tile=32)


def photo(width: int = 320, height: int = 240) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 255, (height, width, 3), dtype=np.uint8)


def cancel_at(token: CancelToken, model: str, call: int):
    def hook(name: str, count: int) -> None:
        if name == model and count == call:
            token.cancel("canceled by the client")

    return hook


def test_without_a_cancel_every_tile_and_face_runs(models, pipeline):
    options = RestoreOptions(background_enhance=True, face_upsample=True, upscale=2)

    result = pipeline.restore_array(photo(), options, cancel=CancelToken())

    assert result.faces == 2
    # 320x240 in 32-pixel tiles: 10 x 8 background tiles, then one tile per 512 face.
    assert models.count("upsampler") == 80 + 2
    assert models.count("restorer") == 2 and models.count("parser") == 2


def test_a_cancel_during_a_background_tile_stops_before_the_next_tile(models, pipeline):
    token = CancelToken()
    models.on_call = cancel_at(token, "upsampler", 3)
    options = RestoreOptions(background_enhance=True, upscale=2)

    with pytest.raises(Cancelled, match="canceled by the client"):
        pipeline.restore_array(photo(), options, cancel=token)

    assert models.count("upsampler") == 3  # of 80
    assert models.count("parser") == 0


def test_a_cancel_during_a_face_stops_before_the_next_face(models, pipeline):
    token = CancelToken()
    models.on_call = cancel_at(token, "restorer", 1)
    models.faces = 3

    with pytest.raises(Cancelled):
        pipeline.restore_array(photo(), RestoreOptions(background_enhance=True), cancel=token)

    assert models.calls == ["detector", "restorer"]  # no second face, no background


def test_a_cancel_between_the_model_calls_of_the_paste_stage_stops_it(models, pipeline):
    # face_upsample runs Real-ESRGAN on each restored face inside the paste stage.
    token = CancelToken()
    models.on_call = cancel_at(token, "upsampler", 80 + 1)
    options = RestoreOptions(background_enhance=True, face_upsample=True)

    with pytest.raises(Cancelled):
        pipeline.restore_array(photo(), options, cancel=token)

    assert models.count("upsampler") == 81  # the first face's; not the second's
    assert models.count("parser") == 0


def test_an_aligned_face_job_is_canceled_between_its_face_and_its_upsampling(models, pipeline):
    token = CancelToken()
    models.on_call = cancel_at(token, "restorer", 1)
    face = photo(512, 512)

    with pytest.raises(Cancelled):
        pipeline.restore_array(face, RestoreOptions(has_aligned=True, face_upsample=True), cancel=token)

    assert models.calls == ["restorer"]


def test_the_token_polls_at_most_once_per_interval():
    polls = []
    token = CancelToken(lambda: polls.append(1), min_interval_s=3600)

    for _ in range(500):
        token.check()

    assert len(polls) == 1 and token.checks == 500


def test_a_poll_that_reports_a_reason_cancels_the_token_for_good():
    answers = iter([None, "the job was canceled"])
    token = CancelToken(lambda: next(answers), min_interval_s=0)

    token.check()
    with pytest.raises(Cancelled, match="the job was canceled"):
        token.check()
    with pytest.raises(Cancelled):
        token.check()  # no further poll needed: the iterator is exhausted
    assert token.reason == "the job was canceled"


def test_the_default_token_cannot_be_canceled():
    NEVER.check()
    with pytest.raises(TypeError):
        NEVER.cancel()


def test_with_model_calls_side_by_side_a_cancel_still_stops_the_next_tile(models):
    pipeline = slow_model_pipeline(bg_tile=32, parallel=2)
    token = CancelToken()
    models.on_call = cancel_at(token, "upsampler", 3)

    with pytest.raises(Cancelled, match="canceled by the client"):
        pipeline.restore_array(photo(), RestoreOptions(background_enhance=True, upscale=2), cancel=token)

    # The third tile cancels; at most the tile already running on the other worker finishes.
    assert 3 <= models.count("upsampler") <= 4  # of 80
    assert models.count("parser") == 0


def test_side_by_side_and_one_after_another_give_the_same_image(models):
    options = RestoreOptions(background_enhance=True, face_upsample=True, upscale=2)
    one_by_one = slow_model_pipeline(bg_tile=32, parallel=1).restore_array(photo(), options)
    calls = len(models.calls)
    side_by_side = slow_model_pipeline(bg_tile=32, parallel=2).restore_array(photo(), options)

    assert np.array_equal(one_by_one.image, side_by_side.image)
    assert len(models.calls) - calls == calls  # the same model calls, none skipped or repeated
