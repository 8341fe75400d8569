"""The OpenAPI schema documents what the views accept; CORS is open on the API routes."""

from __future__ import annotations

import base64

import pytest
import yaml
from django.core.management import call_command

from tests.restoration.conftest import GENERATE_URL, HEALTH_URL, PROCESS_URL, png_bytes

API_PATHS = {
    "/codeformer-image-restoration/v1/codeformer/generate": "post",
    "/v2/requests/status/{request_id}": "get",
    "/v2/requests/cancel/{request_id}": "post",
    "/v2/requests": "get",
    "/api/process": "post",
    "/api/health": "get",
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    with django_db_blocker.unblock():
        # --fail-on-warn makes any unresolved type or missing annotation a failure.
        call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_the_schema_generates_without_warnings_and_documents_every_path(schema):
    for path, method in API_PATHS.items():
        assert method in schema["paths"][path], path


def test_generate_documents_json_and_multipart_bodies_with_the_gateway_defaults(schema):
    operation = schema["paths"]["/codeformer-image-restoration/v1/codeformer/generate"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data", "application/x-www-form-urlencoded"}
    json_body = _resolve(schema, content["application/json"]["schema"])
    props = json_body["properties"]
    assert {
        "image",
        "image_base64",
        "codeformer_fidelity",
        "background_enhance",
        "face_upsample",
        "upscale",
        "webhook",
        "webhook_events_filter",
        "model",
    } <= set(props)
    assert (
        props["background_enhance"]["default"],
        props["face_upsample"]["default"],
        props["upscale"]["default"],
        props["codeformer_fidelity"]["default"],
    ) == (True, True, 2, 0.5)
    multipart = _resolve(schema, content["multipart/form-data"]["schema"])
    assert multipart["properties"]["image"]["format"] == "binary"
    assert {"202", "400", "401", "402", "403", "413", "429"} <= set(operation["responses"])
    headers = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert headers == {"Idempotency-Key", "X-Webhook-URL", "Prefer"}


def test_the_demo_documents_its_own_defaults_and_error_shape(schema):
    operation = schema["paths"]["/api/process"]["post"]
    props = _resolve(schema, operation["requestBody"]["content"]["application/json"]["schema"])["properties"]
    assert (
        props["background_enhance"]["default"],
        props["face_upsample"]["default"],
        props["upscale"]["default"],
        props["fidelity"]["default"],
    ) == (False, False, 2, 0.5)
    error = _resolve(schema, operation["responses"]["400"]["content"]["application/json"]["schema"])
    assert set(error["properties"]) == {"status", "message"}


def test_keyed_operations_require_the_subscription_key_and_health_is_public(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["SubscriptionKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Ocp-Apim-Subscription-Key",
        "description": schemes["SubscriptionKey"]["description"],
    }
    for path, method in API_PATHS.items():
        security = schema["paths"][path][method].get("security")
        if path == "/api/health":
            assert not security
        else:
            assert {"SubscriptionKey": []} in security


def test_the_schema_and_docs_are_served(db, anonymous):
    assert anonymous.get("/api/schema/").status_code == 200
    assert anonymous.get("/api/docs/").status_code == 200


def _resolve(schema, node):
    ref = node.get("$ref")
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref else node


# --- CORS ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [GENERATE_URL, PROCESS_URL, "/v2/requests/status/x"])
def test_a_preflight_allows_any_origin_and_the_key_headers(anonymous, path):
    response = anonymous.options(
        path,
        HTTP_ORIGIN="https://app.example.org",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=(
            "ocp-apim-subscription-key, content-type, idempotency-key, x-webhook-url, prefer, last-event-id"
        ),
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip() for h in response["Access-Control-Allow-Headers"].split(",")}
    # Every request header the API documents (Prefer: wait=N, an EventSource's Last-Event-ID).
    assert {
        "ocp-apim-subscription-key",
        "content-type",
        "idempotency-key",
        "x-webhook-url",
        "prefer",
        "last-event-id",
    } <= allowed
    assert "POST" in response["Access-Control-Allow-Methods"]


def test_answers_carry_the_cors_header_and_expose_every_header_the_api_sets(client, customer):
    body = {"image_base64": base64.b64encode(png_bytes()).decode()}
    first = client.post(GENERATE_URL, body, format="json", HTTP_IDEMPOTENCY_KEY="cors-1")
    replay = client.post(
        GENERATE_URL, body, format="json", HTTP_ORIGIN="https://app.example.org", HTTP_IDEMPOTENCY_KEY="cors-1"
    )
    assert (first.status_code, replay.status_code) == (202, 202)
    assert replay["Access-Control-Allow-Origin"] == "*"
    exposed = {h.strip().lower() for h in replay["Access-Control-Expose-Headers"].split(",")}
    # What a browser app may read: every non-standard header this answer carries, and the rest
    # the API documents (Retry-After on 429/503, Preference-Applied on a Prefer: wait answer).
    set_here = {name.lower() for name in replay.headers} - {
        "content-type",
        "content-length",
        "vary",
        "allow",
        "x-frame-options",
        "x-content-type-options",
        "referrer-policy",
        "cross-origin-opener-policy",
        "access-control-allow-origin",
        "access-control-expose-headers",
    }
    assert "idempotent-replayed" in set_here and "ratelimit-policy" in set_here
    assert set_here | {"retry-after", "preference-applied"} <= exposed


def test_health_answers_cross_origin(db, anonymous):
    response = anonymous.get(HEALTH_URL, HTTP_ORIGIN="https://app.example.org")
    assert response["Access-Control-Allow-Origin"] == "*"


def test_error_answers_carry_the_cors_header_too(client, outsider):
    request_id = client.post(
        GENERATE_URL, {"image_base64": base64.b64encode(png_bytes()).decode()}, format="json"
    ).json()["request_id"]
    response = outsider.client().get(f"/v2/requests/status/{request_id}", HTTP_ORIGIN="https://app.example.org")
    assert response.status_code == 404
    assert response["Access-Control-Allow-Origin"] == "*"


def test_non_api_routes_get_no_cors_header(db, anonymous):
    response = anonymous.get("/admin/login/", HTTP_ORIGIN="https://app.example.org")
    assert "Access-Control-Allow-Origin" not in response


# --- Examples -----------------------------------------------------------------------------------


def _first_example(schema, path: str) -> dict:
    content = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return next(iter(content["examples"].values()))["value"]


def test_generate_first_example_is_accepted_as_it_stands(schema, client):
    # Swagger UI's "Try it out" starts from the first example: Execute must not answer 400.
    example = _first_example(schema, "/codeformer-image-restoration/v1/codeformer/generate")
    response = client.post(GENERATE_URL, example, format="json")
    assert response.status_code == 202, response.content


def test_demo_first_example_is_valid_input_as_it_stands(schema, client, scaling_engine, settings):
    settings.DEMO_SYNC_TIMEOUT_S = 0  # only the validation is looked at: no worker runs here
    example = _first_example(schema, PROCESS_URL)
    response = client.post(PROCESS_URL, example, format="json")
    assert response.status_code == 504, response.content  # accepted, then not finished in 0 s
    base64.b64decode(example["image_base64"].split(",", 1)[1], validate=True)


def test_the_docs_list_the_gateway_first_and_abuse_reports_last(schema):
    tags = [tag["name"] for tag in schema["tags"]]
    assert tags == ["Gateway API", "Demo API", "Trust and safety"]
    used = {tag for operations in schema["paths"].values() for op in operations.values() for tag in op.get("tags", [])}
    assert used == set(tags)  # every section has a description and an order


def test_the_reference_describes_the_request_bodies_for_their_users_not_our_internals(schema):
    components = schema["components"]["schemas"]
    assert not [name for name in components if name.endswith("RequestRequest")]
    for name in (
        "GenerateJSONRequest",
        "GenerateMultipartRequest",
        "DemoJSONRequest",
        "DemoMultipartRequest",
        "ReportRequest",
    ):
        description = components[name].get("description", "")
        assert description, name
        for internal in ("CPU", "DRF", "deep-cop", "bind()", "serializer"):
            assert internal not in description, (name, internal)


def test_the_idempotency_key_is_documented_with_the_limits_it_is_checked_against(schema):
    from jobs.idempotency import MAX_IDEMPOTENCY_KEY_LENGTH

    operation = schema["paths"]["/codeformer-image-restoration/v1/codeformer/generate"]["post"]
    [header] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert f"up to {MAX_IDEMPOTENCY_KEY_LENGTH} printable ASCII characters" in header["description"]
    assert "200" not in header["description"]


def test_an_unsupported_content_type_is_a_415_saying_what_to_send_and_charges_nothing(client, nothing_created):
    guard = nothing_created()
    response = client.generic("POST", GENERATE_URL, b"image=https://example.com/a.png", content_type="text/plain")
    assert response.status_code == 415
    assert response.json() == {
        "error": "Unsupported Media Type",
        "message": 'Unsupported media type "text/plain" in request. Send the body as application/json, '
        "multipart/form-data or application/x-www-form-urlencoded, with that Content-Type.",
    }
    guard.assert_unchanged()


def test_the_reference_opens_with_a_guide_to_money_limits_results_and_webhooks(schema):
    guide = schema["info"]["description"]
    for heading in ("## Authentication", "## Money", "## Limits and response headers", "## Results", "## Webhooks"):
        assert heading in guide
    for fact in ("webhook-signature", "standardwebhooks", "RateLimit-Remaining", "Idempotent-Replayed", "402"):
        assert fact in guide


def test_the_guide_states_this_deployments_figures(settings):
    from restoration.api.schema import api_guide

    settings.MEDIA_URL_TTL_S = 900
    settings.WEBHOOK_RETRY_DELAYS_S = [30, 120, 3600]
    settings.WEBHOOK_TIMEOUT_S = 7
    guide = api_guide()
    assert "work for 15 minutes" in guide
    assert "tried again after 30 s, 2 min, 1 hour, then given up" in guide
    assert "within 7 s is a success" in guide
    assert "`billing.balance_low`" in guide
