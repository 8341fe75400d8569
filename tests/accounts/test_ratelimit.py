"""Requests per minute per organization (all its key sets), counted in Redis so every web
process shares the budget."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from accounts.errors import RateLimited
from accounts.keys import authenticate_key
from accounts.ratelimit import build_limiter, enforce_request_rate, ratelimit_headers, storage_breaker
from billing.models import Plan
from tests.accounts.factories import OrganizationFactory, make_key, make_keys
from tests.jobs.conftest import wait_until


@pytest.fixture
def tiny_plan(db, steady_minute):  # budgets spent within one clock minute
    return Plan.objects.create(code="tiny", name="Tiny", requests_per_minute=3, max_jobs_in_flight=1)


@pytest.fixture
def tiny_key(tiny_plan):
    org = OrganizationFactory(plan=tiny_plan)
    _, key = make_key(org)
    return authenticate_key(key)


def test_the_counters_live_in_redis_in_tests():
    assert settings.RATE_LIMIT_STORAGE_URI.startswith("redis://")


def test_the_request_after_the_plans_budget_raises_429_with_retry_after_and_ratelimit_headers(tiny_key):
    states = [enforce_request_rate(tiny_key) for _ in range(3)]
    assert [s.remaining for s in states] == [2, 1, 0]
    assert all(s.limit == 3 and 1 <= s.reset_after_s <= 60 for s in states)

    with pytest.raises(RateLimited) as caught:
        enforce_request_rate(tiny_key)
    error = caught.value
    assert error.status_code == 429
    assert error.title == "Too Many Requests"
    assert 1 <= int(error.headers["Retry-After"]) <= 60
    assert error.headers["RateLimit-Limit"] == "3"
    assert error.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(error.headers["RateLimit-Reset"]) <= 60


def test_ratelimit_headers_describe_the_state_of_a_successful_request(tiny_key):
    headers = ratelimit_headers(enforce_request_rate(tiny_key))
    assert headers["RateLimit-Limit"] == "3"
    assert headers["RateLimit-Remaining"] == "2"
    assert 1 <= int(headers["RateLimit-Reset"]) <= 60
    assert headers["RateLimit-Policy"] == "3;w=60"


def test_two_separately_built_limiters_share_one_budget_as_two_processes_would(tiny_key):
    process_a = build_limiter(settings.RATE_LIMIT_STORAGE_URI)
    process_b = build_limiter(settings.RATE_LIMIT_STORAGE_URI)
    assert process_a is not process_b and process_a.storage is not process_b.storage

    enforce_request_rate(tiny_key, limiter=process_a)
    enforce_request_rate(tiny_key, limiter=process_b)
    assert enforce_request_rate(tiny_key, limiter=process_a).remaining == 0
    with pytest.raises(RateLimited):
        enforce_request_rate(tiny_key, limiter=process_b)


def test_parallel_requests_from_two_limiters_are_admitted_exactly_up_to_the_budget(tiny_key):
    limiters = [build_limiter(settings.RATE_LIMIT_STORAGE_URI) for _ in range(2)]

    def attempt(i: int) -> bool:
        try:
            enforce_request_rate(tiny_key, limiter=limiters[i % 2])
        except RateLimited:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(20)))
    assert results.count(True) == 3


def test_every_key_set_of_an_organization_shares_one_budget(tiny_plan):
    org = OrganizationFactory(plan=tiny_plan)
    _, keys = make_keys(org, name="a")
    primary, secondary = authenticate_key(keys["primary"]), authenticate_key(keys["secondary"])
    enforce_request_rate(primary)
    enforce_request_rate(secondary)
    # A key set made once the budget is nearly spent gets no budget of its own.
    _, fresh = make_key(org, name="b")
    assert enforce_request_rate(authenticate_key(fresh)).remaining == 0
    for key in (primary, secondary, authenticate_key(fresh)):
        with pytest.raises(RateLimited):
            enforce_request_rate(key)


def test_another_organization_has_its_own_budget(tiny_plan):
    _, spent = make_key(OrganizationFactory(plan=tiny_plan))
    for _ in range(3):
        enforce_request_rate(authenticate_key(spent))
    _, other = make_key(OrganizationFactory(plan=tiny_plan))
    assert enforce_request_rate(authenticate_key(other)).remaining == 2


def test_a_plan_with_zero_requests_per_minute_is_unlimited(db):
    plan = Plan.objects.create(code="unlimited", name="Unlimited", requests_per_minute=0)
    _, key = make_key(OrganizationFactory(plan=plan))
    api_key = authenticate_key(key)
    for _ in range(5):
        state = enforce_request_rate(api_key)
    assert ratelimit_headers(state) == {}


class Limited(APIView):
    from accounts.authentication import SubscriptionKeyAuthentication

    authentication_classes = [SubscriptionKeyAuthentication]

    def get(self, request):
        state = enforce_request_rate(request.auth)
        return Response({"ok": True}, headers=ratelimit_headers(state))


def test_a_view_answers_429_in_the_gateway_shape_with_the_headers(tiny_plan):
    _, key = make_key(OrganizationFactory(plan=tiny_plan))
    factory = APIRequestFactory()
    responses = [Limited.as_view()(factory.get("/x", HTTP_OCP_APIM_SUBSCRIPTION_KEY=key)) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert responses[0]["RateLimit-Remaining"] == "2"
    refused = responses[3]
    assert refused.data["error"] == "Too Many Requests"
    assert refused.data["message"].startswith("Rate limit is exceeded.")
    assert int(refused["Retry-After"]) >= 1
    assert refused["RateLimit-Limit"] == "3"


def test_counting_a_request_is_one_redis_round_trip(tiny_key, monkeypatch):
    limiter = build_limiter(settings.RATE_LIMIT_STORAGE_URI)
    enforce_request_rate(tiny_key, limiter=limiter)  # connects
    commands = []
    connection_class = limiter.storage.storage.connection_pool.connection_class
    real_send = connection_class.send_packed_command
    monkeypatch.setattr(
        connection_class,
        "send_packed_command",
        lambda self, *args, **kwargs: commands.append(args[0]) or real_send(self, *args, **kwargs),
    )
    state = enforce_request_rate(tiny_key, limiter=limiter)
    assert len(commands) == 1
    assert (state.limit, state.remaining) == (3, 1)


def test_each_process_builds_its_limiter_once():
    from accounts.ratelimit import get_limiter

    assert get_limiter() is get_limiter()


def test_an_unreachable_counter_store_lets_requests_through_rather_than_failing_them(tiny_key):
    # Port 1 on localhost refuses at once: the API keeps answering, holds still guard the money.
    dead = build_limiter("redis://127.0.0.1:1/0")
    states = [enforce_request_rate(tiny_key, limiter=dead) for _ in range(5)]
    assert all(s.limit == 3 for s in states)


def test_after_one_failure_the_store_is_left_alone_until_the_fail_open_period_ends(tiny_key, settings, monkeypatch):
    settings.REDIS_FAIL_OPEN_S = 1
    dead = build_limiter("redis://127.0.0.1:1/0")
    asked = []
    real_incr = dead.storage.incr  # the one call a counted request makes
    monkeypatch.setattr(dead.storage, "incr", lambda *args, **kwargs: asked.append(1) or real_incr(*args, **kwargs))

    for _ in range(5):
        enforce_request_rate(tiny_key, limiter=dead)
    assert len(asked) == 1  # only the first request paid for the failure
    assert not storage_breaker(dead).allows()

    wait_until(lambda: storage_breaker(dead).allows(), timeout=10)
    enforce_request_rate(tiny_key, limiter=dead)
    assert len(asked) == 2  # then it tries again


def test_a_store_that_answers_again_closes_the_breaker_and_counting_resumes(tiny_key, settings):
    limiter = build_limiter(settings.RATE_LIMIT_STORAGE_URI)
    storage_breaker(limiter).record_failure()
    assert enforce_request_rate(tiny_key, limiter=limiter).remaining == 3  # skipped: not counted
    storage_breaker(limiter).record_success()
    assert enforce_request_rate(tiny_key, limiter=limiter).remaining == 2
