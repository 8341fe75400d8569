"""The gateway API: generate, status, cancel, list. Every status code, shape and default."""

from __future__ import annotations

import base64
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.models import Organization
from accounts.services import organization_set_status, subscription_revoke
from billing.models import LedgerEntry, Plan, Wallet
from jobs import failures
from jobs.models import REQUEST_ID_PREFIX, Job
from jobs.services import job_run
from tests.accounts.factories import OrganizationFactory, make_key
from tests.restoration.conftest import GENERATE_URL, bomb_png_bytes, noisy_png_bytes, png_bytes

GATEWAY_PRICE = 10 + 5 + 3  # restore_base + background_enhance + face_upsample at upscale 2


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + b64(data)


def generate(client, body=None, **extra):
    return client.post(
        GENERATE_URL, body if body is not None else {"image_base64": data_uri(png_bytes())}, format="json", **extra
    )


def status_url(request_id: str) -> str:
    return f"/v2/requests/status/{request_id}"


def wallet(org) -> Wallet:
    return Wallet.objects.get(organization=org)


# --- 202 ----------------------------------------------------------------------------------------


def test_generate_with_an_image_url_answers_the_documented_202(client, customer, local_server):
    url = local_server.serve("/input_model.png", png_bytes(64, 48))
    response = generate(client, {"image": url})
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"request_id", "status", "polling_url"}
    assert body["status"] == "QUEUED"
    assert body["request_id"].startswith(REQUEST_ID_PREFIX)
    assert body["polling_url"] == f"http://testserver/v2/requests/status/{body['request_id']}"
    job = Job.objects.get()
    assert job.request_id == body["request_id"]
    assert job.organization == customer.org
    assert job.source == Job.Source.GATEWAY
    assert job.input_url == url
    assert (job.input_width, job.input_height) == (64, 48)
    assert job.input_name == "input_model.png"


def test_generate_applies_the_gateway_documents_defaults(client):
    assert generate(client).status_code == 202
    params = Job.objects.get().params
    assert params["background_enhance"] is True
    assert params["face_upsample"] is True
    assert params["upscale"] == 2
    assert params["fidelity"] == 0.5
    assert params["model"] == "codeformer"


def test_generate_stores_the_given_parameters(client):
    body = {
        "image_base64": data_uri(png_bytes()),
        "codeformer_fidelity": 0.7,
        "background_enhance": False,
        "face_upsample": False,
        "upscale": 4,
    }
    assert generate(client, body).status_code == 202
    params = Job.objects.get().params
    assert (params["fidelity"], params["background_enhance"], params["face_upsample"], params["upscale"]) == (
        0.7,
        False,
        False,
        4,
    )


def test_generate_holds_the_price_and_sets_ratelimit_headers(client, customer):
    response = generate(client)
    assert response.status_code == 202
    assert wallet(customer.org).held == GATEWAY_PRICE
    assert wallet(customer.org).balance == 1000
    hold = LedgerEntry.objects.get(kind=LedgerEntry.Kind.HOLD)
    assert hold.job == Job.objects.get() and hold.held_change == GATEWAY_PRICE
    assert response["RateLimit-Limit"] == str(customer.org.plan.requests_per_minute)
    assert int(response["RateLimit-Remaining"]) == customer.org.plan.requests_per_minute - 1


def test_generate_accepts_a_multipart_image_file(client):
    upload = SimpleUploadedFile("portrait.png", png_bytes(30, 20), content_type="image/png")
    response = client.post(
        GENERATE_URL, {"image": upload, "upscale": "3", "face_upsample": "false"}, format="multipart"
    )
    assert response.status_code == 202, response.json()
    job = Job.objects.get()
    assert job.input_name == "portrait.png"
    assert (
        job.params["upscale"] == 3 and job.params["face_upsample"] is False and job.params["background_enhance"] is True
    )


def test_generate_accepts_a_url_encoded_form(client):
    from urllib.parse import urlencode

    form = urlencode(
        {
            "image_base64": b64(png_bytes()),
            "upscale": "4",
            "background_enhance": "off",
            "webhook_events_filter": ["start", "completed"],
        },
        doseq=True,
    )
    response = client.post(GENERATE_URL, form, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 202, response.json()
    params = Job.objects.get().params
    assert params["upscale"] == 4 and params["background_enhance"] is False and params["face_upsample"] is True


def test_generate_accepts_plain_base64_without_a_data_uri(client):
    assert generate(client, {"image_base64": b64(png_bytes())}).status_code == 202


def test_polling_url_uses_public_base_url_when_configured(client, settings):
    settings.PUBLIC_BASE_URL = "https://api.example.com"
    body = generate(client).json()
    assert body["polling_url"] == f"https://api.example.com/v2/requests/status/{body['request_id']}"


def test_the_key_is_accepted_as_bearer_token_and_query_parameter(customer, anonymous):
    body = {"image_base64": data_uri(png_bytes())}
    bearer = anonymous.post(GENERATE_URL, body, format="json", HTTP_AUTHORIZATION=f"Bearer {customer.key}")
    query = anonymous.post(f"{GENERATE_URL}?subscription-key={customer.key}", body, format="json")
    assert (bearer.status_code, query.status_code) == (202, 202)


def test_webhook_from_the_header_or_the_body_is_stored_on_the_job(client, monkeypatch):
    import socket

    real = socket.getaddrinfo
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, *a, **k: (
            [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443))]
            if host.endswith(".example.com")
            else real(host, *a, **k)
        ),
    )
    generate(client, HTTP_X_WEBHOOK_URL="https://hooks.example.com/header")
    body = {
        "image_base64": data_uri(png_bytes()),
        "webhook": "https://hooks.example.com/body",
        "webhook_events_filter": ["completed"],
    }
    generate(client, body, HTTP_X_WEBHOOK_URL="https://hooks.example.com/header")
    first, second = Job.objects.order_by("created_at")
    assert first.webhook_url == "https://hooks.example.com/header"
    assert set(first.webhook_events) == {"start", "output", "logs", "completed"}
    assert second.webhook_url == "https://hooks.example.com/body"
    assert second.webhook_events == ["completed"]


# --- 400 and 413: nothing created, nothing held -------------------------------------------------


def _assert_error(response, status_code: int, *fragments: str):
    assert response.status_code == status_code, response.content
    body = response.json()
    assert set(body) == {"error", "message"}
    for fragment in fragments:
        assert fragment in body["message"]
    return body


BAD_BODIES = [
    pytest.param({"image_base64": None}, "image_base64", id="null-image"),
    pytest.param({"image_base64": ""}, "image_base64", id="empty-base64"),
    pytest.param({"image_base64": "!!!not base64!!!"}, "not valid base64", id="undecodable-base64"),
    pytest.param({"image_base64": "iVBORw0K\u00e9GgoAAAA"}, "not valid base64", id="non-ascii-in-base64"),
    pytest.param({"image_base64": "iVBORw0K\x00GgoAAAA"}, "image_base64", id="null-in-base64"),
    pytest.param({"image_base64": b64(b"just some text, not a picture")}, "not an image", id="not-an-image"),
    pytest.param({"image_base64": b64(png_bytes(64, 64)[:-40])}, "truncated", id="truncated"),
    pytest.param({"image_base64": b64(bomb_png_bytes())}, "pixels", id="decompression-bomb"),
    pytest.param({"image_base64": b64(b"")}, "image_base64", id="empty-image"),
    pytest.param({"image": "http://x", "image_base64": "abc"}, "not both", id="two-images"),
    pytest.param({"codeformer_fidelity": "abc"}, "codeformer_fidelity", id="fidelity-text"),
    pytest.param({"codeformer_fidelity": True}, "codeformer_fidelity", id="fidelity-boolean"),
    pytest.param({"codeformer_fidelity": 1.5}, "codeformer_fidelity", id="fidelity-above-range"),
    pytest.param({"codeformer_fidelity": -0.1}, "codeformer_fidelity", id="fidelity-below-range"),
    pytest.param({"codeformer_fidelity": None}, "codeformer_fidelity", id="fidelity-null"),
    pytest.param({"upscale": 9}, "upscale", id="upscale-above-range"),
    pytest.param({"upscale": 0}, "upscale", id="upscale-below-range"),
    pytest.param({"upscale": 2.5}, "upscale", id="upscale-fraction"),
    pytest.param({"upscale": "2.5"}, "upscale", id="upscale-fraction-text"),
    pytest.param({"upscale": True}, "upscale", id="upscale-boolean"),
    pytest.param({"upscale": "two"}, "upscale", id="upscale-text"),
    pytest.param({"background_enhance": "maybe"}, "background_enhance", id="boolean-text"),
    pytest.param({"face_upsample": 2}, "face_upsample", id="boolean-number"),
    pytest.param({"fidelity": 0.5}, "Unknown field(s): fidelity", id="unknown-field"),
    pytest.param({"webhook_events_filter": ["done"]}, "webhook_events_filter", id="unknown-event"),
    pytest.param({"webhook_events_filter": "completed"}, "webhook_events_filter", id="events-not-a-list"),
    pytest.param({"webhook": "http://10.0.0.8/hook"}, "webhook: http://10.0.0.8/hook points to", id="private-webhook"),
    pytest.param({"webhook": "ftp://example.com/hook"}, "webhook: Only http", id="webhook-scheme"),
]


@pytest.mark.parametrize(("overrides", "fragment"), BAD_BODIES)
def test_bad_input_is_a_400_that_creates_and_holds_nothing(client, nothing_created, overrides, fragment):
    body = {"image_base64": data_uri(png_bytes()), **overrides}
    guard = nothing_created()
    response = generate(client, body)
    body = _assert_error(response, 400, fragment)
    assert body["error"] == "Bad Request"
    guard.assert_unchanged()


def test_a_lone_surrogate_in_the_base64_is_a_400(client, nothing_created):
    # JSON may escape one (a \ud800 escape in the text): the view gets a str UTF-8 cannot encode.
    guard = nothing_created()
    body = '{"image_base64": "iVBORw0K\\ud800GgoAAAA"}'
    response = client.post(GENERATE_URL, body, content_type="application/json")
    _assert_error(response, 400, "image_base64: is not valid base64")
    guard.assert_unchanged()


def test_a_request_without_an_image_is_a_400(client, nothing_created):
    guard = nothing_created()
    _assert_error(generate(client, {"upscale": 2}), 400, "image: this field is required")
    guard.assert_unchanged()


def test_a_body_that_is_not_json_is_a_400(client, nothing_created):
    guard = nothing_created()
    response = client.post(GENERATE_URL, "{not json", content_type="application/json")
    _assert_error(response, 400)
    guard.assert_unchanged()


def test_a_json_array_body_is_a_400(client):
    _assert_error(generate(client, [1, 2]), 400)


def test_a_disabled_model_answers_the_documented_model_not_found(client, nothing_created):
    guard = nothing_created()
    response = generate(client, {"image_base64": data_uri(png_bytes()), "model": "gfpgan"})
    assert response.status_code == 400
    assert response.json() == {"error": "Model not found", "message": "Model 'gfpgan' not found or is disabled"}
    guard.assert_unchanged()


def test_the_status_objects_model_id_spelling_names_the_same_model(client):
    response = generate(client, {"image_base64": data_uri(png_bytes()), "model": "codeformer-image-restoration"})
    assert response.status_code == 202, response.content
    assert Job.objects.get().model == "codeformer"
    disabled = generate(client, {"image_base64": data_uri(png_bytes()), "model": "gfpgan-image-restoration"})
    assert disabled.json() == {"error": "Model not found", "message": "Model 'gfpgan' not found or is disabled"}


def test_an_enabled_second_model_is_accepted(client, settings):
    settings.ENABLED_MODELS = ["codeformer", "gfpgan"]
    assert generate(client, {"image_base64": data_uri(png_bytes()), "model": "gfpgan"}).status_code == 202
    assert Job.objects.get().model == "gfpgan"


@pytest.mark.parametrize(
    ("route", "status", "fragment"),
    [
        pytest.param(None, 404, "HTTP 404", id="dead-url"),
        pytest.param((200, {"Content-Type": "text/html"}, b"<html>hello</html>"), 200, "not an image", id="html-page"),
        pytest.param((500, {}, b"oops"), 500, "HTTP 500", id="server-error"),
    ],
)
def test_an_image_url_that_does_not_give_an_image_is_a_400(
    client, local_server, nothing_created, route, status, fragment
):
    url = local_server.base + "/photo.png"
    if route is not None:
        local_server.routes["/photo.png"] = route
    guard = nothing_created()
    _assert_error(generate(client, {"image": url}), 400, fragment)
    guard.assert_unchanged()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.png",
        "http://10.0.0.1/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/a.png",
        "http://[::ffff:127.0.0.1]/a.png",
        "http://2130706433/a.png",
        "file:///etc/passwd",
    ],
)
def test_an_image_url_to_a_blocked_address_is_a_400(client, nothing_created, url):
    guard = nothing_created()
    _assert_error(generate(client, {"image": url}), 400)
    guard.assert_unchanged()


def test_an_image_url_redirecting_to_a_blocked_address_is_a_400(client, local_server, nothing_created):
    url = local_server.redirect("/r", "http://169.254.169.254/latest/meta-data/iam")
    guard = nothing_created()
    _assert_error(generate(client, {"image": url}), 400, "may not reach")
    guard.assert_unchanged()


def test_an_oversize_base64_image_is_a_413(client, settings, nothing_created):
    settings.MAX_UPLOAD_BYTES = 4096
    guard = nothing_created()
    response = generate(client, {"image_base64": b64(noisy_png_bytes())})
    body = _assert_error(response, 413, "limit")
    assert body["error"] == "Payload Too Large"
    guard.assert_unchanged()


def test_an_oversize_multipart_image_is_a_413(client, settings, nothing_created):
    settings.MAX_UPLOAD_BYTES = 4096
    guard = nothing_created()
    upload = SimpleUploadedFile("big.png", noisy_png_bytes(), content_type="image/png")
    _assert_error(client.post(GENERATE_URL, {"image": upload}, format="multipart"), 413)
    guard.assert_unchanged()


def test_an_oversize_image_url_is_a_413(client, settings, local_server, nothing_created):
    settings.MAX_UPLOAD_BYTES = 4096
    url = local_server.serve("/big.png", noisy_png_bytes())
    guard = nothing_created()
    _assert_error(generate(client, {"image": url}), 413)
    guard.assert_unchanged()


def test_a_body_larger_than_any_valid_request_is_a_413_before_parsing(client, settings, nothing_created):
    settings.MAX_UPLOAD_BYTES = 1024
    settings.MAX_IMAGES_PER_REQUEST = 1
    guard = nothing_created()
    _assert_error(generate(client, {"image_base64": "A" * 80_000}), 413, "request body")
    guard.assert_unchanged()


# --- 401, 403 -----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "cf_abcdefghijkl_" + "x" * 32, "not-a-key"])
def test_a_missing_or_unknown_key_is_a_401(anonymous, customer, nothing_created, key):
    if key is not None:
        anonymous.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY=key)
    guard = nothing_created()
    body = _assert_error(generate(anonymous), 401)
    assert body["error"] == "Unauthorized"
    guard.assert_unchanged()


def test_a_revoked_key_is_a_403(client, customer, nothing_created):
    subscription_revoke(subscription=customer.subscription)
    guard = nothing_created()
    assert _assert_error(generate(client), 403)["error"] == "Forbidden"
    guard.assert_unchanged()


def test_a_suspended_organization_is_a_403(client, customer, nothing_created):
    organization_set_status(organization=customer.org, status=Organization.Status.SUSPENDED)
    guard = nothing_created()
    _assert_error(generate(client), 403, "suspended")
    guard.assert_unchanged()


# --- 402 ----------------------------------------------------------------------------------------


def test_an_empty_wallet_answers_the_documented_402(seeded, nothing_created):
    from rest_framework.test import APIClient

    poor = OrganizationFactory(name="Poor", initial_credit=GATEWAY_PRICE - 1)
    _subscription, key = make_key(poor)
    client = APIClient()
    client.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY=key)
    guard = nothing_created()
    response = generate(client)
    assert response.status_code == 402
    assert response.json() == {"error": "Insufficient Balance", "message": "Your wallet does not have enough balance."}
    guard.assert_unchanged()


# --- 429 ----------------------------------------------------------------------------------------


def _tight_plan(org, **limits) -> None:
    plan = Plan.objects.create(code=f"tight-{org.slug}", name="Tight", **limits)
    Organization.objects.filter(pk=org.pk).update(plan=plan)


def test_past_the_request_rate_it_answers_429_with_retry_after(client, customer, nothing_created, steady_minute):
    _tight_plan(customer.org, requests_per_minute=2, max_jobs_in_flight=50)
    assert generate(client).status_code == 202
    assert generate(client).status_code == 202
    guard = nothing_created()
    response = generate(client)
    body = _assert_error(response, 429)
    assert body["error"] == "Too Many Requests"
    assert int(response["Retry-After"]) > 0
    assert response["RateLimit-Limit"] == "2" and response["RateLimit-Remaining"] == "0"
    guard.assert_unchanged()


def test_a_new_key_set_does_not_buy_more_requests(client, customer, nothing_created, steady_minute):
    """The request rate is the organization's: all its key sets share the plan's budget."""
    _tight_plan(customer.org, requests_per_minute=2, max_jobs_in_flight=50)
    assert generate(client).status_code == 202
    assert generate(client).status_code == 202
    _, second_key = make_key(customer.org, name="second")
    other_set = APIClient()
    other_set.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY=second_key)
    guard = nothing_created()

    response = generate(other_set)

    assert _assert_error(response, 429)["error"] == "Too Many Requests"
    assert response["RateLimit-Remaining"] == "0"
    assert other_set.get("/v2/requests").status_code == 429  # every keyed endpoint counts
    guard.assert_unchanged()


def test_past_the_jobs_in_flight_cap_it_answers_429_and_holds_nothing(client, customer, nothing_created):
    _tight_plan(customer.org, requests_per_minute=100, max_jobs_in_flight=1)
    assert generate(client).status_code == 202
    guard = nothing_created()
    response = generate(client)
    _assert_error(response, 429, "at most 1 request queued or processing at once; 1 is.")
    assert "Retry-After" in response
    # The RateLimit-* headers still tell the request rate, which has room left: 2 of 100 used.
    assert (response["RateLimit-Limit"], response["RateLimit-Remaining"]) == ("100", "98")
    guard.assert_unchanged()


# --- Idempotency-Key ----------------------------------------------------------------------------


def test_a_retry_with_the_same_idempotency_key_returns_the_first_job_and_holds_once(client, customer):
    body = {"image_base64": data_uri(png_bytes())}
    first = generate(client, body, HTTP_IDEMPOTENCY_KEY="order-42")
    second = generate(client, body, HTTP_IDEMPOTENCY_KEY="order-42")
    assert first.status_code == second.status_code == 202
    assert second.json()["request_id"] == first.json()["request_id"]
    assert second["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD).count() == 1
    assert wallet(customer.org).held == GATEWAY_PRICE


def test_the_request_is_fingerprinted_only_when_an_idempotency_key_can_replay_it(client):
    body = {"image_base64": data_uri(png_bytes())}
    generate(client, body)
    generate(client, body, HTTP_IDEMPOTENCY_KEY="order-43")
    without, with_key = Job.objects.order_by("created_at")
    assert without.request_fingerprint == ""  # never compared: the upload is not hashed
    assert len(with_key.request_fingerprint) == 64


def test_a_different_key_makes_a_new_job(client):
    generate(client, HTTP_IDEMPOTENCY_KEY="a")
    generate(client, HTTP_IDEMPOTENCY_KEY="b")
    assert Job.objects.count() == 2


def test_reusing_an_idempotency_key_for_a_different_request_is_refused(client, nothing_created):
    generate(client, {"image_base64": data_uri(png_bytes())}, HTTP_IDEMPOTENCY_KEY="k1")
    guard = nothing_created()
    response = generate(client, {"image_base64": data_uri(png_bytes()), "upscale": 4}, HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json()["message"]
    guard.assert_unchanged()


@pytest.mark.parametrize("key", ["k" * 191, "a::b", "caf\u00e9", "   "])
def test_an_idempotency_key_the_job_store_cannot_keep_is_a_400_and_nothing_is_created(client, key, nothing_created):
    guard = nothing_created()
    response = generate(client, HTTP_IDEMPOTENCY_KEY=key)
    _assert_error(response, 400, "Idempotency-Key")
    guard.assert_unchanged()


def test_the_longest_idempotency_key_is_accepted_and_replayed(client):
    key = "k" * 190
    first = generate(client, HTTP_IDEMPOTENCY_KEY=key)
    second = generate(client, HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == second.status_code == 202
    assert second.json()["request_id"] == first.json()["request_id"]
    assert Job.objects.get().idempotency_key == key


def test_idempotency_keys_are_per_organization(client, outsider):
    mine = generate(client, HTTP_IDEMPOTENCY_KEY="shared").json()
    theirs = generate(outsider.client(), HTTP_IDEMPOTENCY_KEY="shared").json()
    assert mine["request_id"] != theirs["request_id"]
    assert Job.objects.filter(organization=outsider.org).count() == 1


# --- status -------------------------------------------------------------------------------------

STATUS_KEYS = {
    "request_id",
    "status",
    "model_id",
    "error",
    "output",
    "created_at",
    "updated_at",
    "completed_at",
    "logs",
    "timings",
    "retention",
}


def test_status_of_a_queued_request_answers_the_documented_object(client):
    request_id = generate(client).json()["request_id"]
    response = client.get(status_url(request_id))
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= STATUS_KEYS
    assert body["request_id"] == request_id
    assert body["status"] == "QUEUED"
    assert body["model_id"] == "codeformer-image-restoration"
    assert body["error"] is None and body["output"] is None and body["completed_at"] is None
    assert body["created_at"].endswith("Z") and len(body["created_at"]) == len("2026-03-31T10:00:00.000Z")
    assert [line["message"] for line in body["logs"]] == ["Request queued."]
    assert set(body["timings"]) >= {"queue_wait_s", "processing_s"}
    assert "RateLimit-Remaining" in response


def test_status_of_a_completed_request_links_the_restored_png(client, scaling_engine):
    request_id = generate(client, {"image_base64": data_uri(png_bytes(20, 10)), "upscale": 3}).json()["request_id"]
    job_run(job_id=Job.objects.get().id)
    body = client.get(status_url(request_id)).json()
    assert body["status"] == "COMPLETED"
    assert body["output"]["media_type"] == "image/png"
    (media_url,) = body["output"]["media_url"]
    assert media_url.startswith("http://testserver/")
    download = client.get(media_url.removeprefix("http://testserver"))
    assert download.status_code == 200
    png = b"".join(download.streaming_content) if download.streaming else download.content
    assert png.startswith(b"\x89PNG") and int.from_bytes(png[16:20], "big") == 60
    assert body["completed_at"] is not None and body["timings"]["processing_s"] is not None


def test_status_of_a_failed_request_carries_the_error(client, scaling_engine):
    from ml.errors import RestorationFailed

    scaling_engine.fail_with = RestorationFailed("the GPU fell over")
    request_id = generate(client).json()["request_id"]
    job_run(job_id=Job.objects.get().id)
    body = client.get(status_url(request_id)).json()
    # Written for the customer (what happened, what to do); the engine's words are the operator's.
    assert body["status"] == "ERROR" and body["error"] == failures.FAILED_ON_OUR_SIDE and body["output"] is None
    assert Job.objects.get().error_detail.startswith("RestorationFailed: the GPU fell over")


def test_status_of_another_organizations_request_is_a_404(client, outsider):
    request_id = generate(client).json()["request_id"]
    response = outsider.client().get(status_url(request_id))
    assert _assert_error(response, 404)["error"] == "Not Found"


@pytest.mark.parametrize("request_id", ["nonsense", f"{REQUEST_ID_PREFIX}00000000-0000-0000-0000-000000000000"])
def test_status_of_an_unknown_request_is_a_404(client, request_id):
    _assert_error(client.get(status_url(request_id)), 404)


def test_status_without_a_key_is_a_401(anonymous, client):
    request_id = generate(client).json()["request_id"]
    _assert_error(anonymous.get(status_url(request_id)), 401)


# --- cancel -------------------------------------------------------------------------------------


def test_cancel_of_a_queued_request_releases_the_hold(client, customer):
    request_id = generate(client).json()["request_id"]
    response = client.post(f"/v2/requests/cancel/{request_id}")
    assert response.status_code == 200
    assert response.json()["status"] == "CANCELED"
    assert response.json()["error"] == "Canceled by the client."
    assert Job.objects.get().status == Job.Status.CANCELED
    assert wallet(customer.org).held == 0 and wallet(customer.org).balance == 1000
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RELEASE).count() == 1
    assert client.get(status_url(request_id)).json()["status"] == "CANCELED"


def test_cancel_of_a_finished_request_is_a_409_and_keeps_the_charge(client, customer, scaling_engine):
    request_id = generate(client).json()["request_id"]
    job_run(job_id=Job.objects.get().id)
    _assert_error(client.post(f"/v2/requests/cancel/{request_id}"), 409)
    assert Job.objects.get().status == Job.Status.COMPLETED
    assert wallet(customer.org).balance == 1000 - GATEWAY_PRICE


def test_cancel_of_another_organizations_request_is_a_404_and_changes_nothing(client, outsider):
    request_id = generate(client).json()["request_id"]
    _assert_error(outsider.client().post(f"/v2/requests/cancel/{request_id}"), 404)
    assert Job.objects.get().status == Job.Status.QUEUED


# --- list ---------------------------------------------------------------------------------------


def test_the_list_shows_only_the_organizations_own_requests_newest_first(client, outsider):
    ids = [generate(client).json()["request_id"] for _ in range(3)]
    generate(outsider.client())
    response = client.get("/v2/requests?limit=2")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [item["request_id"] for item in body["results"]] == ids[::-1][:2]
    assert body["next"] is not None
    assert body["results"][0]["polling_url"].endswith(status_url(ids[-1]))


def test_the_list_filters_by_status(client):
    first = generate(client).json()["request_id"]
    generate(client)
    client.post(f"/v2/requests/cancel/{first}")
    body = client.get("/v2/requests?status=CANCELED").json()
    assert [item["request_id"] for item in body["results"]] == [first]
    _assert_error(client.get("/v2/requests?status=DONE"), 400)


# --- order of checks ----------------------------------------------------------------------------


def test_the_key_is_checked_before_the_body(anonymous, customer):
    response = generate(anonymous, {"upscale": "nonsense", "bogus": 1})
    assert response.status_code == 401


def test_the_rate_is_checked_before_the_body_and_even_bad_requests_count(client, customer, steady_minute):
    _tight_plan(customer.org, requests_per_minute=1, max_jobs_in_flight=50)
    assert generate(client, {"bogus": 1}).status_code == 400
    assert generate(client, {"bogus": 1}).status_code == 429


def test_an_unsafe_webhook_header_is_a_400(client, nothing_created):
    guard = nothing_created()
    _assert_error(generate(client, HTTP_X_WEBHOOK_URL="http://192.168.0.1/hook"), 400, "may not reach")
    guard.assert_unchanged()


def test_an_unexpected_failure_answers_the_documented_500_shape(client, settings, monkeypatch, nothing_created):
    from restoration.api import gateway

    def broken(**kwargs):
        raise RuntimeError("broker exploded")

    monkeypatch.setattr(gateway, "job_submit", broken)
    settings.DEBUG = False
    guard = nothing_created()
    body = _assert_error(generate(client), 500)
    assert body["error"] == "Internal Server Error"
    assert "broker exploded" not in body["message"]
    guard.assert_unchanged()


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_with_one_idempotency_key_make_one_job_and_one_hold(customer):
    import threading

    from django.db import connection

    body = {"image_base64": data_uri(png_bytes())}
    answers, barrier = [], threading.Barrier(8)

    def send():
        try:
            client = customer.client()
            barrier.wait()
            response = generate(client, body, HTTP_IDEMPOTENCY_KEY="retry-storm")
            answers.append((response.status_code, response.json()["request_id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 8
    assert {status for status, _ in answers} == {202}
    assert len({request_id for _, request_id in answers}) == 1
    assert Job.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD).count() == 1
    assert wallet(customer.org).held == GATEWAY_PRICE


def test_a_retry_succeeds_even_when_the_image_url_no_longer_answers(client, local_server, customer):
    url = local_server.serve("/presigned.png", png_bytes())
    first = generate(client, {"image": url}, HTTP_IDEMPOTENCY_KEY="upload-7")
    del local_server.routes["/presigned.png"]  # the presigned URL expired
    retry = generate(client, {"image": url}, HTTP_IDEMPOTENCY_KEY="upload-7")
    assert retry.status_code == 202
    assert retry.json()["request_id"] == first.json()["request_id"]
    assert retry["Idempotent-Replayed"] == "true"
    assert Job.objects.count() == 1 and wallet(customer.org).held == GATEWAY_PRICE
    changed = generate(client, {"image": url, "upscale": 3}, HTTP_IDEMPOTENCY_KEY="upload-7")
    assert changed.status_code == 422


# --- Unknown paths and missing keys, as an API client reads them -----------------------------------


def test_an_unknown_api_path_answers_json_with_a_hint_for_a_trailing_slash(client):
    response = client.post(GENERATE_URL + "/", {}, format="json")
    assert response.status_code == 404
    assert response.json() == {
        "error": "Not Found",
        "message": f"No such endpoint: POST {GENERATE_URL}/. Did you mean {GENERATE_URL} (no trailing slash)? "
        "The endpoints are listed at /api/docs/.",
    }
    other = client.get("/v2/requests/nothing/here")
    assert other.status_code == 404 and other.json()["error"] == "Not Found"
    assert "Did you mean" not in other.json()["message"]
    demo = client.post("/api/process/extra", {}, format="json")
    assert demo.status_code == 404 and demo.json()["status"] == "error"


def test_a_page_outside_the_api_still_gets_the_404_page(client):
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_401_names_the_scheme_that_works(db, anonymous):
    response = anonymous.post(GENERATE_URL, {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("AzureApiManagementKey ")
    assert 'name="Ocp-Apim-Subscription-Key"' in response["WWW-Authenticate"]
    bad = anonymous.post(GENERATE_URL, {}, format="json", HTTP_OCP_APIM_SUBSCRIPTION_KEY="cf_nope_nope")
    assert bad.status_code == 401 and "WWW-Authenticate" in bad


def test_a_photo_sized_data_uri_in_image_is_read_as_the_picture(client):
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.effect_noise((160, 160), 64).convert("RGB").save(buffer, format="PNG")
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    assert len(uri) > 2000
    response = generate(client, {"image": uri})
    assert response.status_code == 202, response.content


def test_an_overlong_url_says_to_send_the_picture_as_base64(client, nothing_created):
    guard = nothing_created()
    response = generate(client, {"image": "https://example.com/" + "a" * 2000})
    body = _assert_error(response, 400, "image: a URL is at most 2000 characters", "image_base64")
    assert body["error"] == "Bad Request"
    guard.assert_unchanged()


def test_a_url_in_a_multipart_image_field_says_how_to_send_a_url(client, nothing_created):
    guard = nothing_created()
    response = client.post(GENERATE_URL, {"image": "https://example.com/a.png"}, format="multipart")
    _assert_error(response, 400, "in a multipart/form-data body, image is a file part", "post JSON")
    guard.assert_unchanged()
