"""The overview says plainly, before anything is submitted, when no model can run (its weights
are not installed) and that nothing is charged; it says nothing when one can. (The playground's
own notice is tested in test_not_ready.)"""

from __future__ import annotations

import re

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
    assert "Restorations are temporarily unavailable" in body
    assert "You are not charged" in body
    assert "fetch_weights" not in body and str(settings.WEIGHTS_DIR) not in body  # no server paths


def test_the_overview_and_the_playground_give_the_same_explanation(owner_client, org, pipeline_without_weights):
    def notice(path):
        body = owner_client.get(path).content.decode()
        return re.search(r"<div[^>]*data-not-ready>.*?</div>", body, re.S).group(0)

    assert notice(reverse("dashboard:home")) == notice(reverse("dashboard:restore"))


def test_the_notice_says_truly_what_the_playground_and_the_api_each_do(
    owner_client, org, pipeline_without_weights, settings
):
    body = owner_client.get(reverse("dashboard:home")).content.decode()
    # The playground refuses before holding anything (tested in test_not_ready) ...
    assert "Restore button stays off until restorations are back: nothing is uploaded, held or charged" in body
    # ... while the API takes the job, which ends in ERROR with its hold released (tests/jobs/test_real_pipeline).
    assert "its job ends with an error and the price held for it is released at once" in body
    assert f'href="{reverse("swagger-ui")}"' in body
    assert f'href="mailto:{settings.BILLING_CONTACT_EMAIL}"' in body


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
