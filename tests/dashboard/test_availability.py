"""The overview says plainly, before anything is submitted, when no model can run (its weights
are not installed) and that nothing is charged; it says nothing when one can. (The playground's
own notice is tested in test_not_ready.)"""

from __future__ import annotations

import pytest
from django.urls import reverse

from ml.weights import MANIFEST, MODELS

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline_without_weights(settings, tmp_path):
    settings.RESTORATION_ENGINE = "jobs.engine.build_pipeline"
    settings.WEIGHTS_DIR = tmp_path  # empty: no checkpoint installed
    settings.ENABLED_MODELS = ["codeformer"]


def test_the_overview_says_restorations_cannot_run_and_nothing_is_charged_without_weights(
    owner_client, org, pipeline_without_weights, settings
):
    body = owner_client.get(reverse("dashboard:home")).content.decode()
    assert "data-not-ready" in body
    assert "Restorations cannot run here yet" in body
    assert "Nothing is charged" in body
    assert "fetch_weights" not in body and str(settings.WEIGHTS_DIR) not in body  # no server paths


def test_the_overview_says_nothing_when_the_weights_are_installed(
    owner_client, org, pipeline_without_weights, settings
):
    # The page reads the same size-only check as /api/health: sparse files of the right size.
    for checkpoint in MODELS["codeformer"].checkpoints:
        with open(settings.WEIGHTS_DIR / MANIFEST[checkpoint].filename, "wb") as handle:
            handle.truncate(MANIFEST[checkpoint].size)
    body = owner_client.get(reverse("dashboard:home")).content.decode()
    assert "data-not-ready" not in body


def test_the_overview_says_nothing_for_an_engine_that_brings_its_own_model(owner_client, org):
    body = owner_client.get(reverse("dashboard:home")).content.decode()  # the suite's stand-in engine
    assert "data-not-ready" not in body
