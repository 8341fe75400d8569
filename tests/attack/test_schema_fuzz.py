"""Schemathesis over our own OpenAPI document, in-process against the WSGI app: no input the
schema describes (or nearly describes: negative cases too) may answer a server error, and the
document's own examples must be valid against the document.

The key belongs to a funded organization on a plan without request-rate, jobs-in-flight or
monthly limits, so generated requests reach the body checks, the price and the job services
instead of stopping at a 429. Schemathesis sends real (tiny) PNG and JPEG files, so jobs are
created: a real in-process Dramatiq worker runs them on the suite's stand-in engine, which the
demo's synchronous wait needs. The waits a client may ask for (``Prefer: wait``, the live
stream) are cut to a second, and DNS answers "no such host" as it would offline.
"""

from __future__ import annotations

import socket

import hypothesis
import jsonschema
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck
from schemathesis.checks import not_a_server_error

from accounts.models import Organization
from billing.models import Plan
from tests.accounts.factories import OrganizationFactory, UserFactory, make_key

SCHEMA_URL = "/api/schema/"
MAX_EXAMPLES = 30


@pytest.fixture
def funded_key(transactional_db) -> str:
    plan = Plan.objects.create(
        code="fuzz", name="Fuzz", requests_per_minute=0, max_jobs_in_flight=100_000, monthly_image_quota=0
    )
    org = OrganizationFactory(name="Fuzz Corp", owner=UserFactory(username="fuzz-owner"), initial_credit=10**9)
    Organization.objects.filter(pk=org.pk).update(plan=plan)
    return make_key(org)[1]


@pytest.fixture
def offline_dns(monkeypatch):
    def no_such_host(host, *args, **kwargs):
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in str(host) else socket.AF_INET, str(host))
        except (OSError, TypeError, ValueError):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
        return _real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)


_real_getaddrinfo = socket.getaddrinfo


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Calling the WSGI app directly fires request_finished, whose handler closes the database
    connection the test's transaction lives on; Django's own test Client unhooks it the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _short_waits(settings):
    settings.GATEWAY_PREFER_WAIT_MAX_S = 1
    settings.DEMO_SYNC_TIMEOUT_S = 60  # a real worker restores the demo's images (the stand-in engine)
    settings.LIVE_STREAM_MAX_S = 1
    settings.LIVE_STREAM_POLL_MS = 50


def _load_schema():
    # Loaded at collection (pytest-django has set Django up by then): schemathesis' lazy
    # from_fixture loader does not work with pytest 9. The schema view needs no database.
    from config.wsgi import application

    loaded = schemathesis.openapi.from_wsgi(SCHEMA_URL, application)
    loaded.config.generation.update(max_examples=MAX_EXAMPLES, modes=["positive", "negative"])
    return loaded


schema = _load_schema()


@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_server_error(case, funded_key, offline_dns, worker):
    case.call_and_validate(headers={"Ocp-Apim-Subscription-Key": funded_key}, checks=[not_a_server_error])


# --- the document's own examples ------------------------------------------------------------------


@pytest.fixture
def openapi_document(db) -> dict:
    response = Client().get(SCHEMA_URL, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return response.json()


def _examples(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            for media_type, content in (operation.get("requestBody") or {}).get("content", {}).items():
                for name, example in (content.get("examples") or {}).items():
                    yield f"{method.upper()} {path} request {media_type} {name}", content["schema"], example["value"]
            for code, response in operation.get("responses", {}).items():
                for media_type, content in (response.get("content") or {}).items():
                    for name, example in (content.get("examples") or {}).items():
                        yield f"{method.upper()} {path} {code} {media_type} {name}", content["schema"], example["value"]


def test_the_documents_own_examples_are_valid_against_it(openapi_document):
    examples = list(_examples(openapi_document))
    assert examples, "the document has no examples to check"
    errors = {}
    for where, node, value in examples:
        validator = jsonschema.Draft202012Validator(
            {**node, "components": openapi_document.get("components", {})},
        )
        problems = [error.message for error in validator.iter_errors(value)]
        if problems:
            errors[where] = problems
    assert errors == {}
