"""The demo API: /api/process submits jobs and waits for them (a real Dramatiq worker restores
them here), answering the documented shapes; every error uses the demo shape."""

from __future__ import annotations

import base64
import io
import json

import dramatiq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from PIL import Image

import jobs.actors  # noqa: F401 - declares the actors (and their queues) on the broker
from accounts.models import Organization
from accounts.services import organization_set_status, subscription_revoke
from billing.models import LedgerEntry, Plan, Wallet
from jobs.models import Job
from ml.errors import InvalidImage, RestorationFailed
from tests.accounts.factories import OrganizationFactory, make_key
from tests.restoration.conftest import PROCESS_URL, bomb_png_bytes, noisy_png_bytes, png_bytes

DEMO_PRICE = 10  # restore_base only: the demo's defaults add no background or face upsampling


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


@pytest.fixture
def worker(transactional_db, scaling_engine):
    """A real in-process Dramatiq worker on the Redis test broker, consuming the gpu queue."""
    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_timeout=100, worker_threads=1, queues={"gpu"})
    worker.start()
    yield worker
    worker.stop()
    broker.flush_all()
    connection.close()


def _assert_demo_error(response, status_code: int, fragment: str = ""):
    assert response.status_code == status_code, response.content
    body = response.json()
    assert body["status"] == "error"
    assert fragment in body["message"]
    assert "error" not in body
    return body


def _download(client, url: str) -> bytes:
    response = client.get(url.removeprefix("http://testserver"))
    assert response.status_code == 200
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- success, with a real worker ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_multipart_image_is_restored_and_answered_in_the_documented_shape(worker, client, customer):
    upload = SimpleUploadedFile("my_photo.png", png_bytes(30, 20), content_type="image/png")
    response = client.post(PROCESS_URL, {"image": upload, "fidelity": "0.7"}, format="multipart")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"status", "count", "results"}
    assert body["status"] == "success" and body["count"] == 1
    (result,) = body["results"]
    assert set(result) == {"original_name", "filename", "image_url", "request_id"}  # no image_base64 unless asked
    job = Job.objects.get()
    assert result["original_name"] == "my_photo.png"
    assert result["filename"] == f"api_result_{job.id}.png"
    assert result["request_id"] == job.request_id
    assert png_size(_download(client, result["image_url"])) == (60, 40)  # upscale 2 by default
    assert job.status == Job.Status.COMPLETED and job.source == Job.Source.DEMO
    wallet = Wallet.objects.get(organization=customer.org)
    assert (wallet.balance, wallet.held) == (1000 - DEMO_PRICE, 0)
    assert "RateLimit-Limit" in response


@pytest.mark.django_db(transaction=True)
def test_the_demo_applies_its_own_documents_defaults(worker, client):
    assert client.post(PROCESS_URL, {"image_base64": b64(png_bytes())}, format="json").status_code == 200
    params = Job.objects.get().params
    assert params["background_enhance"] is False
    assert params["face_upsample"] is False
    assert params["upscale"] == 2
    assert params["fidelity"] == 0.5


@pytest.mark.django_db(transaction=True)
def test_json_images_base64_with_return_base64_answers_each_image_inline(worker, client):
    body = {
        "images_base64": ["data:image/png;base64," + b64(png_bytes(10, 8)), b64(png_bytes(12, 6))],
        "upscale": 4,
        "background_enhance": True,
        "return_base64": True,
    }
    response = client.post(PROCESS_URL, body, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert response.json()["count"] == 2
    assert [png_size(base64.b64decode(r["image_base64"])) for r in results] == [(40, 32), (48, 24)]
    assert [png_size(_download(client, r["image_url"])) for r in results] == [(40, 32), (48, 24)]
    assert all(job.params["upscale"] == 4 and job.params["background_enhance"] is True for job in Job.objects.all())


@pytest.mark.django_db(transaction=True)
def test_a_retry_with_the_same_idempotency_key_is_answered_again_and_says_so(worker, client):
    body = {"image_base64": b64(png_bytes(10, 8))}
    first = client.post(PROCESS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="demo-1")
    again = client.post(PROCESS_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="demo-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_body_of_several_images_over_generates_limit_is_restored(worker, client, settings):
    """The demo's body limit is MAX_IMAGES_PER_REQUEST images' worth, not the gateway's one."""
    from restoration.api.base import request_body_limit

    settings.MAX_UPLOAD_BYTES = 64 * 1024
    images = [noisy_png_bytes(140, 140) for _ in range(2)]
    body = {"images_base64": [b64(image) for image in images], "upscale": 1}
    assert len(json.dumps(body)) > request_body_limit(images=1)
    response = client.post(PROCESS_URL, body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 2
    assert Job.objects.filter(status=Job.Status.COMPLETED).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_list_of_multipart_images_becomes_one_job_each(worker, client):
    files = [SimpleUploadedFile(f"face{i}.png", png_bytes(8 + i, 8), content_type="image/png") for i in range(3)]
    response = client.post(PROCESS_URL, {"image": files, "upscale": "1"}, format="multipart")
    assert response.status_code == 200, response.content
    assert [r["original_name"] for r in response.json()["results"]] == ["face0.png", "face1.png", "face2.png"]
    assert Job.objects.filter(status=Job.Status.COMPLETED).count() == 3


@pytest.mark.django_db(transaction=True)
def test_an_image_the_engine_rejects_is_a_422_in_the_demo_shape_and_not_charged(
    worker, client, customer, scaling_engine
):
    scaling_engine.fail_with = InvalidImage("no face could be restored")
    body = _assert_demo_error(
        client.post(PROCESS_URL, {"image_base64": b64(png_bytes())}, format="json"), 422, "No face could be restored."
    )
    assert body["failed"][0]["status"] == "FAILED"
    wallet = Wallet.objects.get(organization=customer.org)
    assert (wallet.balance, wallet.held) == (1000, 0)


@pytest.mark.django_db(transaction=True)
def test_an_engine_failure_is_a_500_in_the_demo_shape_and_not_charged(worker, client, customer, scaling_engine):
    scaling_engine.fail_with = RestorationFailed("out of memory")
    _assert_demo_error(
        client.post(PROCESS_URL, {"image_base64": b64(png_bytes())}, format="json"), 500, "failed on our side"
    )
    assert Wallet.objects.get(organization=customer.org).balance == 1000


# --- the bounded wait ---------------------------------------------------------------------------


def test_when_no_worker_finishes_in_time_it_answers_504_and_cancels_without_charge(client, customer, settings):
    settings.DEMO_SYNC_TIMEOUT_S = 1  # no worker runs in this test: the job stays queued
    response = client.post(PROCESS_URL, {"image_base64": b64(png_bytes())}, format="json")
    body = _assert_demo_error(response, 504, "not restored within 1 seconds")
    job = Job.objects.get()
    assert body["request_ids"] == [job.request_id]
    assert job.status == Job.Status.CANCELED
    # Its own reason, not the client's cancel: on the job, in its status and in its log.
    assert job.error.startswith("Timed out: the demo API waits at most 1 seconds (DEMO_SYNC_TIMEOUT_S)")
    status = client.get(f"/v2/requests/status/{job.request_id}").json()
    assert (status["status"], status["error"]) == ("CANCELED", job.error)
    assert status["logs"][-1]["message"] == f"Request canceled: {job.error}"
    wallet = Wallet.objects.get(organization=customer.org)
    assert (wallet.balance, wallet.held) == (1000, 0)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RELEASE, job=job).exists()


# --- errors in the demo shape, nothing created --------------------------------------------------


@pytest.mark.parametrize(
    ("format_", "body"),
    [
        pytest.param("json", {"image_base64": "x", "fidelty": 0.5}, id="json-typo"),
        pytest.param("json", {"image_base64": "x", "codeformer_fidelity": 0.5}, id="json-gateway-field"),
        pytest.param("multipart", {"image": "FILE", "images_base64": "x"}, id="multipart-json-only-field"),
        pytest.param("multipart", {"image": "FILE", "scale": "2"}, id="multipart-typo"),
    ],
)
def test_unknown_fields_are_a_400_naming_them_as_on_the_gateway(client, nothing_created, format_, body):
    if body.get("image") == "FILE":
        body["image"] = SimpleUploadedFile("a.png", png_bytes(), content_type="image/png")
    unknown = sorted(set(body) - {"image", "image_base64"})
    guard = nothing_created()
    body = _assert_demo_error(client.post(PROCESS_URL, body, format=format_), 400, f"Unknown field(s): {unknown[0]}")
    assert "Accepted fields:" in body["message"]
    guard.assert_unchanged()


def test_unknown_fields_in_a_url_encoded_form_are_a_400(client, nothing_created):
    guard = nothing_created()
    response = client.post(
        PROCESS_URL, "image_base64=x&return_base64=true&foo=1", content_type="application/x-www-form-urlencoded"
    )
    _assert_demo_error(response, 400, "Unknown field(s): foo")
    guard.assert_unchanged()


BAD_JSON = [
    pytest.param({}, "No image", id="missing-image"),
    pytest.param({"image_base64": ""}, "image_base64", id="empty-base64"),
    pytest.param({"image_base64": "%%%"}, "not valid base64", id="bad-base64"),
    pytest.param({"image_base64": b64(b"GIF89a? no, plain text")}, "not an image", id="not-an-image"),
    pytest.param({"image_base64": b64(png_bytes(64, 64)[:-30])}, "truncated", id="truncated"),
    pytest.param({"image_base64": b64(bomb_png_bytes())}, "pixels", id="bomb"),
    pytest.param({"images_base64": []}, "images_base64", id="empty-list"),
    pytest.param({"images_base64": "abc"}, "images_base64", id="list-not-a-list"),
    pytest.param({"image_base64": "x", "upscale": 3}, "upscale", id="upscale-3"),
    pytest.param({"image_base64": "x", "upscale": 8}, "upscale", id="upscale-8"),
    pytest.param({"image_base64": "x", "fidelity": "abc"}, "fidelity", id="fidelity-text"),
    pytest.param({"image_base64": "x", "fidelity": 2}, "fidelity", id="fidelity-range"),
    pytest.param({"image_base64": "x", "return_base64": "sure"}, "return_base64", id="boolean-text"),
    pytest.param(
        {"image_base64": "x", "model": "restoreformer"}, "Model 'restoreformer' not found or is disabled", id="model"
    ),
]


@pytest.mark.parametrize(("body", "fragment"), BAD_JSON)
def test_bad_input_is_a_400_in_the_demo_shape_that_creates_nothing(client, nothing_created, body, fragment):
    guard = nothing_created()
    body = _assert_demo_error(client.post(PROCESS_URL, body, format="json"), 400, fragment)
    assert set(body) == {"status", "message"}
    guard.assert_unchanged()


def test_a_multipart_part_that_is_not_an_image_is_a_400(client, nothing_created):
    guard = nothing_created()
    upload = SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")
    _assert_demo_error(client.post(PROCESS_URL, {"image": upload}, format="multipart"), 400, "not an image")
    guard.assert_unchanged()


def test_an_empty_multipart_file_is_a_400(client, nothing_created):
    guard = nothing_created()
    upload = SimpleUploadedFile("empty.png", b"", content_type="image/png")
    _assert_demo_error(client.post(PROCESS_URL, {"image": upload}, format="multipart"), 400)
    guard.assert_unchanged()


def test_more_images_than_allowed_is_a_400(client, settings, nothing_created):
    settings.MAX_IMAGES_PER_REQUEST = 2
    guard = nothing_created()
    _assert_demo_error(
        client.post(PROCESS_URL, {"images_base64": [b64(png_bytes())] * 3}, format="json"), 400, "At most 2 images"
    )
    guard.assert_unchanged()


def test_one_bad_image_in_a_batch_creates_no_job_for_the_good_ones(client, nothing_created):
    guard = nothing_created()
    body = {"images_base64": [b64(png_bytes()), b64(b"not an image")]}
    _assert_demo_error(client.post(PROCESS_URL, body, format="json"), 400, "images_base64[1]")
    guard.assert_unchanged()


def test_an_oversize_upload_is_a_413_in_the_demo_shape(client, settings, nothing_created):
    settings.MAX_UPLOAD_BYTES = 4096
    guard = nothing_created()
    upload = SimpleUploadedFile("big.png", noisy_png_bytes(), content_type="image/png")
    _assert_demo_error(client.post(PROCESS_URL, {"image": upload}, format="multipart"), 413, "limit")
    guard.assert_unchanged()


def test_without_a_key_it_is_a_401_in_the_demo_shape(anonymous, customer, nothing_created):
    guard = nothing_created()
    _assert_demo_error(anonymous.post(PROCESS_URL, {"image_base64": b64(png_bytes())}, format="json"), 401)
    guard.assert_unchanged()


def test_a_revoked_key_or_suspended_organization_is_a_403_in_the_demo_shape(client, customer, nothing_created):
    guard = nothing_created()
    organization_set_status(organization=customer.org, status=Organization.Status.SUSPENDED)
    _assert_demo_error(client.post(PROCESS_URL, {"image_base64": b64(png_bytes())}, format="json"), 403)
    organization_set_status(organization=customer.org, status=Organization.Status.ACTIVE)
    subscription_revoke(subscription=customer.subscription)
    _assert_demo_error(client.post(PROCESS_URL, {"image_base64": b64(png_bytes())}, format="json"), 403)
    guard.assert_unchanged()


def test_an_empty_wallet_is_a_402_in_the_demo_shape(seeded, nothing_created):
    from rest_framework.test import APIClient

    poor = OrganizationFactory(name="Poor", initial_credit=DEMO_PRICE - 1)
    _subscription, key = make_key(poor)
    client = APIClient()
    client.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY=key)
    guard = nothing_created()
    body = _assert_demo_error(client.post(PROCESS_URL, {"image_base64": b64(png_bytes())}, format="json"), 402)
    assert body["message"] == "Your wallet does not have enough balance."
    guard.assert_unchanged()


def test_past_the_request_rate_it_is_a_429_in_the_demo_shape(client, customer, nothing_created, steady_minute):
    plan = Plan.objects.create(code="demo-tight", name="Tight", requests_per_minute=1, max_jobs_in_flight=5)
    Organization.objects.filter(pk=customer.org.pk).update(plan=plan)
    _assert_demo_error(client.post(PROCESS_URL, {}, format="json"), 400)  # spends the one request
    guard = nothing_created()
    response = client.post(PROCESS_URL, {"image_base64": b64(png_bytes())}, format="json")
    _assert_demo_error(response, 429)
    assert "Retry-After" in response
    guard.assert_unchanged()


def test_the_outsider_cannot_read_a_demo_request(client, outsider, settings):
    settings.DEMO_SYNC_TIMEOUT_S = 1
    body = client.post(PROCESS_URL, {"image_base64": b64(png_bytes())}, format="json").json()
    (request_id,) = body["request_ids"]
    assert outsider.client().get(f"/v2/requests/status/{request_id}").status_code == 404
    assert client.get(f"/v2/requests/status/{request_id}").status_code == 200
