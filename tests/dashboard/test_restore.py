"""The "restore a photo" form goes through restoration.intake and jobs.services.job_submit."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing.models import LedgerEntry, Wallet
from billing.pricing import price_for
from jobs.models import Job
from jobs.types import JobParams
from tests.accounts.factories import OrganizationFactory
from tests.dashboard.conftest import png_bytes

pytestmark = pytest.mark.django_db

FORM = {"model": "codeformer", "fidelity": "0.7", "upscale": "2", "background_enhance": "", "face_upsample": ""}


def files_under(root):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_uploading_a_photo_creates_a_queued_job_with_a_hold(owner_client, owner, org, _media_root):
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "image": upload})
    job = Job.objects.get(organization=org)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:job_detail", args=[job.request_id])
    assert job.status == Job.Status.QUEUED
    assert job.source == Job.Source.DASHBOARD
    assert job.created_by == owner
    assert job.params["fidelity"] == 0.7 and job.params["background_enhance"] is False
    expected = price_for(JobParams(fidelity=0.7, upscale=2, background_enhance=False, face_upsample=False))
    assert job.price == expected
    hold = LedgerEntry.objects.get(job=job, kind=LedgerEntry.Kind.HOLD)
    assert hold.held_change == expected
    assert Wallet.objects.get(organization=org).held == expected
    assert len(files_under(_media_root)) == 1


def test_a_broke_organization_gets_a_friendly_402_and_nothing_is_created(client, owner, _media_root):
    broke = OrganizationFactory(name="Broke Ltd", owner=owner, initial_credit=0)
    client.force_login(owner)
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = client.post(reverse("dashboard:restore"), {**FORM, "image": upload})
    assert response.status_code == 402
    body = response.content.decode()
    assert "does not have enough available balance" in body
    assert "Top up the wallet" in body
    assert not Job.objects.filter(organization=broke).exists()
    assert not LedgerEntry.objects.filter(organization=broke, kind=LedgerEntry.Kind.HOLD).exists()
    assert files_under(_media_root) == []


def test_a_file_that_is_not_an_image_is_refused_without_a_job(owner_client, org, _media_root):
    upload = SimpleUploadedFile("notes.png", b"these are not pixels", content_type="image/png")
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "image": upload})
    assert response.status_code == 400
    assert not Job.objects.filter(organization=org).exists()
    assert files_under(_media_root) == []


def test_out_of_range_fidelity_is_a_form_error(owner_client, org):
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "fidelity": "3", "image": upload})
    assert response.status_code == 400
    assert not Job.objects.filter(organization=org).exists()


def test_a_model_that_is_not_enabled_cannot_be_chosen(owner_client, org, settings):
    settings.ENABLED_MODELS = ["codeformer"]
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "model": "gfpgan", "image": upload})
    assert response.status_code == 400
    assert not Job.objects.filter(organization=org).exists()


def test_a_suspended_organization_cannot_start_jobs_from_the_dashboard(owner_client, org):
    from accounts.services import organization_set_status

    organization_set_status(organization=org, status="suspended")
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "image": upload})
    assert response.status_code == 403
    assert "suspended" in response.content.decode()
    assert not Job.objects.filter(organization=org).exists()
