"""JobParams: the one constructor from API fields / stored params, and the engine's options."""

from __future__ import annotations

import pytest

from jobs.types import JobParams
from ml.options import RestoreOptions


def test_gateway_fields_become_params_under_their_documented_names():
    fields = {"codeformer_fidelity": 0.3, "upscale": 4, "background_enhance": False, "model": "gfpgan", "webhook": "x"}
    params = JobParams.from_values(fields)
    assert params == JobParams(model="gfpgan", fidelity=0.3, upscale=4, background_enhance=False)


def test_missing_or_null_values_take_the_defaults_and_values_are_coerced():
    params = JobParams.from_values({"fidelity": "0.7", "upscale": "3", "face_upsample": None})
    assert params == JobParams(fidelity=0.7, upscale=3)
    assert isinstance(params.upscale, int)


def test_stored_params_round_trip_and_become_the_engines_options():
    params = JobParams(fidelity=0.2, upscale=1, background_enhance=False, only_center_face=True)
    again = JobParams.from_values(params.as_dict())
    assert again == params
    assert again.restore_options() == RestoreOptions(
        fidelity=0.2, upscale=1, background_enhance=False, face_upsample=True, only_center_face=True
    )


def test_values_out_of_the_engines_range_are_refused_when_the_options_are_built():
    with pytest.raises(ValueError, match="upscale"):
        JobParams.from_values({"upscale": 9}).restore_options()
    with pytest.raises(ValueError):
        JobParams.from_values({"upscale": "many"})
