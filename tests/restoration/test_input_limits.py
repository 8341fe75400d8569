"""Input limits per endpoint: body size (declared, and chunked), JSON depth, query parameters."""

from __future__ import annotations

import io
import json

import pytest

from jobs.models import Job
from restoration.api.base import BODY_OVERHEAD_BYTES, request_body_limit
from restoration.api.parsers import MAX_JSON_DEPTH
from tests.restoration.conftest import GENERATE_URL, PROCESS_URL, noisy_png_bytes, png_bytes
from tests.restoration.test_gateway import _assert_error, b64, data_uri, generate


class CountingStream(io.BytesIO):
    """A wsgi.input that remembers how much of it the server read."""

    def __init__(self, data: bytes = b""):
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def post_raw(client, url, stream, *, content_length=None, terminated=False, chunked=False, content_type=None):
    """POST with a hand-made WSGI environ: the given input stream, and a Content-Length only
    when given (a chunked request has none; gunicorn sets wsgi.input_terminated for it)."""
    extra = {"wsgi.input": stream, "CONTENT_TYPE": content_type or "application/json"}
    if content_length is not None:
        extra["CONTENT_LENGTH"] = str(content_length)
    if terminated:
        extra["wsgi.input_terminated"] = True
    if chunked:
        extra["HTTP_TRANSFER_ENCODING"] = "chunked"
    return client.generic("POST", url, b"", content_type=None, **extra)


# --- body size per endpoint ---------------------------------------------------------------------


def test_the_gateway_limit_is_one_image_in_base64_plus_the_fields(settings):
    settings.MAX_UPLOAD_BYTES = 3000
    assert request_body_limit(images=1) == 4000 + BODY_OVERHEAD_BYTES
    settings.MAX_UPLOAD_BYTES = 3001  # base64 rounds up to whole groups of 4
    assert request_body_limit(images=1) == 4004 + BODY_OVERHEAD_BYTES
    assert request_body_limit(images=3) == 3 * 4004 + BODY_OVERHEAD_BYTES


def test_generate_takes_an_image_right_at_the_upload_limit_with_every_field(client, settings, local_server):
    image = noisy_png_bytes(60, 60)
    settings.MAX_UPLOAD_BYTES = len(image)
    body = {
        "image_base64": data_uri(image),
        "codeformer_fidelity": 0.3,
        "upscale": 1,
        "webhook": local_server.base + "/" + "x" * 1900,
        "webhook_events_filter": ["start", "output", "logs", "completed"],
    }
    response = client.post(
        GENERATE_URL, json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY="k" * 190
    )
    assert response.status_code == 202, response.content
    job = Job.objects.get()
    assert job.input_file.size == len(image)


def test_generate_refuses_a_body_over_one_images_worth_before_reading_any_of_it(client, settings, nothing_created):
    settings.MAX_UPLOAD_BYTES = 64 * 1024
    limit = request_body_limit(images=1)
    stream = CountingStream(b"{" + b" " * (limit + 10) + b"}")
    guard = nothing_created()
    body = _assert_error(post_raw(client, GENERATE_URL, stream, content_length=limit + 1), 413, f"{limit:,}")
    assert body["error"] == "Payload Too Large"
    assert stream.bytes_read == 0
    guard.assert_unchanged()


def test_a_body_of_several_images_is_refused_by_generate_but_not_by_the_demo(client, settings, nothing_created):
    """The demo takes MAX_IMAGES_PER_REQUEST images, so its limit is that many times larger."""
    settings.MAX_UPLOAD_BYTES = 64 * 1024
    images = [noisy_png_bytes(140, 140) for _ in range(2)]
    assert all(len(image) <= settings.MAX_UPLOAD_BYTES for image in images)
    two_images = {"image_base64": b64(images[0]), "images_base64": [b64(images[1])], "model": "nonexistent"}
    size = len(json.dumps(two_images))
    assert request_body_limit(images=1) < size < request_body_limit(images=settings.MAX_IMAGES_PER_REQUEST)
    guard = nothing_created()
    _assert_error(generate(client, {"image_base64": b64(images[0]), "images_base64": [b64(images[1])]}), 413)
    # The demo reads it and gets as far as the model check (a real 200 is in test_demo).
    response = client.post(PROCESS_URL, two_images, format="json")
    assert response.status_code == 400, response.content
    assert response.json() == {"status": "error", "message": "Model 'nonexistent' not found or is disabled"}
    guard.assert_unchanged()


def test_a_demo_body_over_its_limit_is_a_413_in_the_demo_shape(client, settings, nothing_created):
    settings.MAX_UPLOAD_BYTES = 4096
    settings.MAX_IMAGES_PER_REQUEST = 2
    limit = request_body_limit(images=2)
    stream = CountingStream()
    guard = nothing_created()
    response = post_raw(client, PROCESS_URL, stream, content_length=limit + 1)
    assert response.status_code == 413
    assert response.json()["status"] == "error"
    assert stream.bytes_read == 0
    guard.assert_unchanged()


def test_a_body_on_a_request_without_one_is_bounded_too(client, settings, nothing_created):
    stream = CountingStream()
    guard = nothing_created()
    response = post_raw(client, "/v2/requests/cancel/anything", stream, content_length=BODY_OVERHEAD_BYTES + 1)
    _assert_error(response, 413)
    assert stream.bytes_read == 0
    guard.assert_unchanged()


def test_a_content_length_that_is_not_a_number_is_a_400(client, nothing_created):
    guard = nothing_created()
    _assert_error(post_raw(client, GENERATE_URL, CountingStream(), content_length="12abc"), 400, "Content-Length")
    guard.assert_unchanged()


def test_the_key_and_rate_are_checked_before_the_size(anonymous):
    response = post_raw(anonymous, GENERATE_URL, CountingStream(), content_length=10**12)
    assert response.status_code == 401


# --- chunked bodies (no Content-Length) --------------------------------------------------------


def test_a_chunked_body_is_read_and_the_request_accepted(client, customer):
    body = json.dumps({"image_base64": data_uri(png_bytes(30, 20)), "upscale": 1}).encode()
    response = post_raw(client, GENERATE_URL, CountingStream(body), terminated=True, chunked=True)
    assert response.status_code == 202, response.content
    job = Job.objects.get()
    assert job.organization == customer.org
    assert (job.input_width, job.input_height) == (30, 20)


def test_a_chunked_multipart_body_is_read_too(client):
    from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

    upload = io.BytesIO(png_bytes(30, 20))
    upload.name = "face.png"
    body = encode_multipart(BOUNDARY, {"image": upload, "upscale": "1"})
    response = post_raw(client, GENERATE_URL, CountingStream(body), terminated=True, content_type=MULTIPART_CONTENT)
    assert response.status_code == 202, response.content
    assert Job.objects.get().input_name == "face.png"


def test_a_chunked_body_over_the_limit_is_a_413_after_reading_one_byte_past_it(client, settings, nothing_created):
    settings.MAX_UPLOAD_BYTES = 4096
    limit = request_body_limit(images=1)
    stream = CountingStream(json.dumps({"image_base64": "A" * (limit * 3)}).encode())
    guard = nothing_created()
    _assert_error(post_raw(client, GENERATE_URL, stream, terminated=True, chunked=True), 413, f"{limit:,}")
    assert stream.bytes_read == limit + 1
    guard.assert_unchanged()


def test_a_chunked_body_where_the_server_cannot_end_the_input_is_a_411(client, nothing_created):
    stream = CountingStream(json.dumps({"image_base64": data_uri(png_bytes())}).encode())
    guard = nothing_created()
    body = _assert_error(post_raw(client, GENERATE_URL, stream, chunked=True), 411, "Content-Length")
    assert body["error"] == "Length Required"
    assert stream.bytes_read == 0
    guard.assert_unchanged()


# --- JSON depth ---------------------------------------------------------------------------------


def nested(depth: int) -> str:
    """A JSON object whose ``image_base64`` sits beside a field nested ``depth`` levels in all."""
    return '{"image_base64": "x", "extra": ' + "[" * (depth - 1) + "1" + "]" * (depth - 1) + "}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 200_000])
def test_json_nested_too_deep_is_a_400_not_a_500(client, nothing_created, depth):
    guard = nothing_created()
    response = client.post(GENERATE_URL, nested(depth), content_type="application/json")
    body = _assert_error(response, 400, f"nested more than {MAX_JSON_DEPTH} levels")
    assert body["error"] == "Bad Request"
    guard.assert_unchanged()


def test_json_nested_too_deep_is_a_400_in_the_demo_shape(client, nothing_created):
    guard = nothing_created()
    response = client.post(PROCESS_URL, "[" * 50_000 + "]" * 50_000, content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "status": "error",
        "message": f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.",
    }
    guard.assert_unchanged()


def test_json_at_the_depth_limit_is_parsed(client):
    response = client.post(GENERATE_URL, nested(MAX_JSON_DEPTH), content_type="application/json")
    _assert_error(response, 400, "Unknown field(s): extra")


def test_brackets_inside_strings_do_not_count_as_nesting(client):
    key = '\\"' + "[" * 100 + "{" * 100
    response = client.post(GENERATE_URL, json.dumps({key: 1}), content_type="application/json")
    _assert_error(response, 400, "Unknown field(s): " + key[:20])


# --- query parameters of the request list -------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=-1",
        "limit=0",
        "limit=1.5",
        "limit=%D9%A3",  # an Arabic-Indic digit: str.isdigit() says yes, int() would take it
        "limit=1e3",
        "offset=x",
        "offset=-5",
        "offset=2.0",
    ],
)
def test_junk_limit_or_offset_is_a_400(client, query):
    generate(client)
    name = query.split("=")[0]
    _assert_error(client.get(f"/v2/requests?{query}"), 400, f"{name}: must be a whole number")


def test_a_limit_over_the_maximum_gives_the_largest_page(client):
    for _ in range(2):
        generate(client)
    body = client.get("/v2/requests?limit=1000&offset=1").json()
    assert len(body["results"]) == 1
    assert "limit=100" in body["previous"]


def test_empty_limit_and_offset_take_the_defaults(client):
    generate(client)
    body = client.get("/v2/requests?limit=&offset=").json()
    assert body["count"] == 1 and len(body["results"]) == 1


def test_a_key_given_in_the_query_is_not_echoed_in_the_page_links(anonymous, customer):
    client = customer.client()
    for _ in range(3):
        generate(client)
    response = anonymous.get(f"/v2/requests?limit=1&offset=1&subscription-key={customer.key}&status=QUEUED")
    assert response.status_code == 200
    body = response.json()
    for link in (body["next"], body["previous"]):
        assert customer.key not in link and "subscription-key" not in link
        assert "status=QUEUED" in link and "limit=1" in link
    assert "offset=2" in body["next"]
    assert customer.key not in response.content.decode()
