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
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "images": upload})
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
    response = client.post(reverse("dashboard:restore"), {**FORM, "images": upload})
    assert response.status_code == 402
    body = response.content.decode()
    assert "does not have enough available balance" in body
    assert "Top up the wallet" in body
    assert not Job.objects.filter(organization=broke).exists()
    assert not LedgerEntry.objects.filter(organization=broke, kind=LedgerEntry.Kind.HOLD).exists()
    assert files_under(_media_root) == []


def test_a_spend_limit_refusal_says_it_is_the_limit_not_the_balance(owner_client, org, _media_root):
    from billing.selectors import billing_account_for

    account = billing_account_for(org)
    account.monthly_spend_limit = 0
    account.save(update_fields=["monthly_spend_limit"])
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "images": upload})
    assert response.status_code == 402
    body = response.content.decode()
    assert "monthly spend limit of $0.00" in body and "raise the limit on the wallet page" in body
    assert "does not have enough available balance" not in body
    assert not Job.objects.filter(organization=org).exists()
    assert files_under(_media_root) == []


def test_a_file_that_is_not_an_image_is_refused_without_a_job(owner_client, org, _media_root):
    upload = SimpleUploadedFile("notes.png", b"these are not pixels", content_type="image/png")
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "images": upload})
    assert response.status_code == 400
    assert not Job.objects.filter(organization=org).exists()
    assert files_under(_media_root) == []


def test_out_of_range_fidelity_is_a_form_error(owner_client, org):
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "fidelity": "3", "images": upload})
    assert response.status_code == 400
    assert not Job.objects.filter(organization=org).exists()


def test_a_model_that_is_not_enabled_cannot_be_chosen(owner_client, org, settings):
    settings.ENABLED_MODELS = ["codeformer"]
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "model": "gfpgan", "images": upload})
    assert response.status_code == 400
    assert not Job.objects.filter(organization=org).exists()


def test_a_suspended_organization_cannot_start_jobs_from_the_dashboard(owner_client, org):
    from accounts.services import organization_set_status

    organization_set_status(organization=org, status="suspended")
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "images": upload})
    assert response.status_code == 403
    assert "suspended" in response.content.decode()
    assert not Job.objects.filter(organization=org).exists()


# --- the playground's other sources, kept photos, the live price ----------------------------------


def test_several_photos_become_one_submission_of_several_jobs(owner_client, org, _media_root):
    uploads = [SimpleUploadedFile(f"p{n}.png", png_bytes(), content_type="image/png") for n in range(3)]
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "images": uploads})
    jobs = list(Job.objects.filter(organization=org))
    assert len(jobs) == 3
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dashboard:jobs") + "?ids=")
    assert set(response["Location"].split("=", 1)[1].split(",")) == {str(job.id) for job in jobs}
    assert sorted(job.input_name for job in jobs) == ["p0.png", "p1.png", "p2.png"]
    assert Wallet.objects.get(organization=org).held == sum(job.price for job in jobs)


def test_more_photos_than_one_request_may_carry_are_refused(owner_client, org, settings):
    settings.MAX_IMAGES_PER_REQUEST = 2
    uploads = [SimpleUploadedFile(f"p{n}.png", png_bytes(), content_type="image/png") for n in range(3)]
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "images": uploads})
    assert response.status_code == 400
    assert "at most 2 photos" in response.content.decode()
    assert not Job.objects.exists()


def test_a_sample_photo_can_be_restored(owner_client, org):
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "sample": "portrait.jpg"})
    job = Job.objects.get(organization=org)
    assert response.status_code == 302
    assert (job.input_name, job.input_width, job.input_height) == ("portrait.jpg", 225, 225)


def test_an_unknown_sample_is_a_form_error(owner_client, org):
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "sample": "../../settings.py"})
    assert response.status_code == 400
    assert not Job.objects.exists()


def test_no_photo_at_all_says_how_to_choose_one(owner_client, org):
    response = owner_client.post(reverse("dashboard:restore"), FORM)
    assert response.status_code == 400
    assert "Choose a photo" in response.content.decode()
    assert not Job.objects.exists()


def test_two_sources_at_once_are_refused(owner_client, org):
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "images": upload, "sample": "portrait.jpg"})
    assert response.status_code == 400
    assert "not several" in response.content.decode()
    assert not Job.objects.exists()


def test_an_image_url_to_a_private_address_is_refused_with_a_message(owner_client, org, _media_root):
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "image_url": "http://127.0.0.1:9/x.png"})
    assert response.status_code == 400
    assert not Job.objects.exists()
    assert files_under(_media_root) == []


def test_a_url_that_is_not_http_gets_its_own_error_only(owner_client, org):
    response = owner_client.post(reverse("dashboard:restore"), {**FORM, "image_url": "ftp://example.com/x.png"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter an http(s) URL of an image." in page
    assert "Choose a photo: drop one here" not in page  # a URL was given, it was only refused


def test_a_refused_submission_keeps_the_chosen_photo_for_the_next_try(client, owner, _media_root):
    broke = OrganizationFactory(name="Broke Ltd", owner=owner, initial_credit=0)
    client.force_login(owner)
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = client.post(reverse("dashboard:restore"), {**FORM, "images": upload})
    assert response.status_code == 402
    body = response.content.decode()
    assert "Still chosen:" in body and "portrait.png (48\u00d740)" in body
    token = response.context["form"].data["kept"]
    assert token
    assert files_under(_media_root) == []  # kept in the cache, not in storage

    from billing.services import wallet_topup

    wallet_topup(organization=broke, amount=1000, idempotency_key="test-topup", description="test")
    response = client.post(reverse("dashboard:restore"), {**FORM, "kept": token})
    job = Job.objects.get(organization=broke)
    assert response.status_code == 302
    assert job.input_name == "portrait.png"


def test_a_kept_photo_belongs_to_its_member_only(client, owner, teammate, org):
    client.force_login(owner)
    upload = SimpleUploadedFile("portrait.png", png_bytes(), content_type="image/png")
    response = client.post(reverse("dashboard:restore"), {**FORM, "fidelity": "7", "images": upload})
    token = response.context["form"].data["kept"]
    client.force_login(teammate)
    response = client.post(reverse("dashboard:restore"), {**FORM, "kept": token})
    assert response.status_code == 400
    assert "expired" in response.content.decode()
    assert not Job.objects.exists()


def test_run_again_prefills_the_settings_and_reuses_the_photo(owner_client, org):
    from tests.dashboard.conftest import submit_job

    first = submit_job(org, JobParams(fidelity=0.8, upscale=4, background_enhance=False, face_upsample=True))
    page = owner_client.get(reverse("dashboard:restore"), {"from": first.request_id})
    assert page.status_code == 200
    form = page.context["form"]
    assert form.initial["fidelity"] == 0.8 and form.initial["upscale"] == 4
    assert form.initial["rerun"] == first.request_id
    response = owner_client.post(
        reverse("dashboard:restore"),
        {"model": "codeformer", "fidelity": "0.8", "upscale": "4", "face_upsample": "on", "rerun": first.request_id},
    )
    assert response.status_code == 302
    second = Job.objects.exclude(id=first.id).get()
    assert second.params["upscale"] == 4 and second.params["fidelity"] == 0.8
    assert second.input_name == first.input_name


def test_run_again_from_another_organizations_job_is_a_404(outsider_client, org):
    from tests.dashboard.conftest import submit_job

    job = submit_job(org)
    assert outsider_client.get(reverse("dashboard:restore"), {"from": job.request_id}).status_code == 404


def test_the_price_quote_comes_from_the_price_table(owner_client, org):
    from billing.models import PriceItem

    url = reverse("dashboard:price_quote")
    quote = owner_client.get(
        url, {"upscale": "4", "background_enhance": "true", "face_upsample": "false", "count": "2"}
    )
    assert quote.status_code == 200
    expected = price_for(JobParams(upscale=4, background_enhance=True, face_upsample=False))
    assert quote.json()["unit_amount"] == expected
    assert quote.json()["total"] == 2 * expected
    # Editing the table (as the admin does: saving the row) changes the quote at once.
    item = PriceItem.objects.get(code="restore_base")
    item.amount = 50
    item.save()
    again = owner_client.get(url, {"upscale": "4", "background_enhance": "true", "face_upsample": "false"})
    assert again.json()["unit_amount"] == price_for(JobParams(upscale=4, background_enhance=True, face_upsample=False))
    assert again.json()["unit_amount"] != expected


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"upscale": "9"}, "upscale"),
        ({"upscale": "two"}, "upscale"),
        ({"background_enhance": "maybe"}, "background_enhance"),
        ({"count": "0"}, "count"),
        ({"count": "99"}, "count"),
        ({"colour": "red"}, "Unknown field"),
        ({"model": "gfpgan"}, "not found"),
    ],
)
def test_a_bad_price_query_is_a_400_with_a_message(owner_client, org, query, fragment):
    response = owner_client.get(reverse("dashboard:price_quote"), query)
    assert response.status_code == 400
    assert fragment in response.json()["message"]


def test_the_price_quote_needs_a_signed_in_member(client, org):
    response = client.get(reverse("dashboard:price_quote"))
    assert response.status_code == 401


def test_a_suspended_organizations_overview_says_whom_to_write_to_and_keys_cannot_be_made(owner_client, org, settings):
    from accounts.models import Subscription
    from accounts.services import organization_set_status

    settings.SUPPORT_CONTACT_EMAIL = "trust@codeformer.example"
    organization_set_status(organization=org, status="suspended")
    overview = owner_client.get(reverse("dashboard:home")).content.decode()
    assert "This organization is suspended" in overview
    assert 'href="mailto:trust@codeformer.example"' in overview

    response = owner_client.post(reverse("dashboard:key_create"), {"name": "a way round"}, follow=True)
    assert "no new key can be made until staff reactivate it" in response.content.decode()
    assert not Subscription.objects.filter(organization=org, name="a way round").exists()
