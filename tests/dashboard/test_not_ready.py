"""With the production pipeline as the engine and its weights missing, the playground says why
restorations cannot run and refuses to submit (nothing held, no job); any other engine (the
suite's stand-in) brings its own models and is never blocked."""

from __future__ import annotations

import re

import pytest

from billing.models import LedgerEntry, Wallet
from jobs.engine import PIPELINE_FACTORY, missing_weights
from jobs.models import Job
from tests.dashboard.conftest import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def real_pipeline_without_weights(settings, tmp_path):
    settings.RESTORATION_ENGINE = PIPELINE_FACTORY
    settings.WEIGHTS_DIR = str(tmp_path / "no-weights")
    settings.ENABLED_MODELS = ["codeformer"]


def test_missing_weights_names_the_enabled_models_without_checkpoints(real_pipeline_without_weights, settings):
    assert missing_weights() == ["codeformer"]
    settings.RESTORATION_ENGINE = "tests.jobs.engines.FakeEngine"
    assert missing_weights() == []


def test_the_playground_says_why_and_refuses_to_submit(real_pipeline_without_weights, owner_client, org):
    page = owner_client.get("/jobs/new/")
    body = page.content.decode()
    assert "Restorations are temporarily unavailable" in body
    assert "fetch_weights" not in body and "codeformer installed" not in body  # operators' words, not customers'
    # The reason sits right by the disabled Restore button, which points at it.
    button = re.search(r"<button[^>]*data-submit[^>]*>", body).group(0)
    assert "disabled" in button and 'aria-describedby="submit-reason"' in button
    reason = re.search(r'<p[^>]*id="submit-reason"[^>]*>([^<]*)</p>', body)
    assert "hidden" not in reason.group(0) and "temporarily unavailable" in reason.group(1)
    wallet = Wallet.objects.get(organization=org)

    from django.core.files.uploadedfile import SimpleUploadedFile

    response = owner_client.post(
        "/jobs/new/",
        {"images": SimpleUploadedFile("face.png", png_bytes(), "image/png"), "fidelity": "0.5", "upscale": "2"},
    )

    assert response.status_code == 503
    assert "temporarily unavailable, so nothing was submitted or charged" in response.content.decode()
    assert Job.objects.count() == 0 and LedgerEntry.objects.filter(job__isnull=False).count() == 0
    after = Wallet.objects.get(organization=org)
    assert (after.balance, after.held) == (wallet.balance, wallet.held)


def test_staff_see_the_command_that_installs_the_weights(real_pipeline_without_weights, client, org, owner):
    owner.is_staff = True
    owner.save()
    client.force_login(owner)
    assert "manage.py fetch_weights" in client.get("/jobs/new/").content.decode()


def test_with_the_weights_in_place_the_button_has_no_reason_shown(owner_client, org):
    body = owner_client.get("/jobs/new/").content.decode()  # the suite's stand-in engine
    button = re.search(r"<button[^>]*data-submit[^>]*>", body).group(0)
    assert "disabled" not in button
    assert re.search(r'<p[^>]*id="submit-reason"[^>]* hidden></p>', body)
