"""The output-pixel cap: refused before holding at submission, and paid for as delivered when
the worker still has to lower the upscale (the cap was lowered after the job was queued)."""

from __future__ import annotations

import pytest

from billing.models import LedgerEntry, Wallet
from billing.money import format_money
from jobs.errors import OutputTooLarge
from jobs.models import Job
from jobs.selectors import job_status_payload
from jobs.services import job_run, job_submit, largest_upscale_for
from jobs.types import JobParams
from tests.jobs.conftest import image_input

# restore_base 10 + two upscale steps of 2 above 2x (billing migration 0002).
FOUR_X = JobParams(upscale=4, background_enhance=False, face_upsample=False)
FOUR_X_PRICE, TWO_X_PRICE = 14, 10


def test_the_largest_upscale_is_the_last_whose_output_fits(settings):
    settings.MAX_OUTPUT_PIXELS = 100 * 100 * 9  # 3x of a 100x100 image, exactly
    assert largest_upscale_for(100, 100) == 3
    assert largest_upscale_for(101, 100) == 2
    settings.MAX_OUTPUT_PIXELS = 100 * 100 - 1
    assert largest_upscale_for(100, 100) == 0


@pytest.mark.django_db
def test_an_upscale_over_the_output_cap_is_refused_before_anything_is_held(org, settings, _media_root):
    settings.MAX_OUTPUT_PIXELS = 24 * 16 * 4  # 2x of the 24x16 image fits, 4x does not
    before = Wallet.objects.get(organization=org)

    with pytest.raises(OutputTooLarge) as refused:
        job_submit(organization=org, params=FOUR_X, images=[image_input(24, 16)], source=Job.Source.GATEWAY)

    assert "largest upscale allowed for this image is 2" in refused.value.message
    assert refused.value.extra == {"max_upscale": 2}
    assert refused.value.status_code == 400
    assert Job.objects.count() == 0 and LedgerEntry.objects.filter(job__isnull=False).count() == 0
    after = Wallet.objects.get(organization=org)
    assert (after.balance, after.held) == (before.balance, before.held)
    assert not [p for p in _media_root.rglob("*") if p.is_file()]


@pytest.mark.django_db
def test_a_job_delivered_at_a_lower_upscale_pays_for_the_upscale_delivered(org, fake_engine):
    jobs, _ = job_submit(organization=org, params=FOUR_X, images=[image_input(24, 16)], source=Job.Source.GATEWAY)
    assert Wallet.objects.get(organization=org).held == FOUR_X_PRICE
    fake_engine.deliver_upscale = 2  # what the pipeline does when the cap forces a lower upscale

    job = job_run(job_id=jobs[0].id)

    assert job.status == Job.Status.COMPLETED
    assert (job.output_width, job.output_height) == (48, 32)
    capture = LedgerEntry.objects.get(job=job, kind=LedgerEntry.Kind.CAPTURE)
    assert (capture.amount, capture.held_change) == (-TWO_X_PRICE, -FOUR_X_PRICE)
    wallet = Wallet.objects.get(organization=org)
    assert (wallet.balance, wallet.held) == (1000 - TWO_X_PRICE, 0)
    assert job.price == TWO_X_PRICE
    payload = job_status_payload(job, base_url="http://testserver")
    assert payload["upscale_applied"] == 2
    assert payload["cost"]["price"] == payload["cost"]["charged"] == TWO_X_PRICE
    assert any("Upscale 2 applied instead of 4" in line["message"] for line in payload["logs"])
    assert any(f"charged {format_money(TWO_X_PRICE)} instead" in line["message"] for line in payload["logs"])


@pytest.mark.django_db
def test_a_job_delivered_as_asked_pays_the_full_price_and_says_so(org):
    jobs, _ = job_submit(organization=org, params=FOUR_X, images=[image_input(24, 16)], source=Job.Source.GATEWAY)

    job = job_run(job_id=jobs[0].id)

    capture = LedgerEntry.objects.get(job=job, kind=LedgerEntry.Kind.CAPTURE)
    assert (capture.amount, capture.held_change) == (-FOUR_X_PRICE, -FOUR_X_PRICE)
    assert job_status_payload(job, base_url="http://testserver")["upscale_applied"] == 4
