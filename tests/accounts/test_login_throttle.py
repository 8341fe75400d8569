"""Brute-force protection on login: allauth's rate limits (ACCOUNT_RATE_LIMITS) per account and
per client IP, counted in Django's cache, which is this machine's real Redis in the tests."""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from django.urls import reverse

from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

LOCKED = "Too many failed login attempts. Try again later."
WRONG = "The username and/or password you specified are not correct."


def verified(username: str):
    user = UserFactory(username=username, email=f"{username}@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def attempt(client, login: str, password: str, ip: str = "203.0.113.7"):
    return client.post(reverse("account_login"), {"login": login, "password": password}, REMOTE_ADDR=ip)


def signed_in(client) -> bool:
    return client.get(reverse("dashboard:no_organization")).status_code == 200


def test_the_configured_limits_are_per_ip_and_per_account(settings):
    from allauth.account import app_settings

    assert app_settings.RATE_LIMITS["login_failed"] == "20/m/ip,5/5m/key"
    assert settings.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"


def test_repeated_wrong_passwords_lock_the_account_but_not_another_one(client, django_user_model):
    verified("vera")
    verified("walt")
    for _ in range(5):
        response = attempt(client, "vera", "not-the-password")
        assert response.status_code == 200 and WRONG in response.content.decode()
    # The right password is refused too while the account is locked, from a fresh browser as well:
    # the count lives on the server, not in the session.
    for browser in (client, client.__class__()):
        response = attempt(browser, "vera", DEFAULT_PASSWORD)
        assert response.status_code == 200
        assert LOCKED in response.content.decode()
        assert not signed_in(browser)
    # The same login spelled differently is the same account.
    assert LOCKED in attempt(client.__class__(), "VERA", DEFAULT_PASSWORD).content.decode()
    # Another account from the same address still logs in.
    other = client.__class__()
    assert attempt(other, "walt", DEFAULT_PASSWORD).status_code == 302
    assert signed_in(other)


def test_a_successful_login_does_not_reset_the_failure_count(client):
    verified("vera")
    for _ in range(4):
        attempt(client, "vera", "not-the-password")
    assert attempt(client, "vera", DEFAULT_PASSWORD).status_code == 302
    client.post(reverse("account_logout"))
    # The success took back only its own attempt: one more failure reaches the limit.
    attempt(client, "vera", "not-the-password")
    assert LOCKED in attempt(client, "vera", DEFAULT_PASSWORD).content.decode()


def test_many_accounts_tried_from_one_address_lock_that_address(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/m/ip,5/5m/key"}
    verified("vera")
    for name in ("anna", "bert", "carl"):
        attempt(client, name, "guess")
    response = attempt(client, "vera", DEFAULT_PASSWORD)
    assert LOCKED in response.content.decode()
    assert not signed_in(client)
    # A different client address is not affected.
    assert attempt(client.__class__(), "vera", DEFAULT_PASSWORD, ip="198.51.100.9").status_code == 302


def test_the_login_page_itself_answers_429_past_its_budget(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "2/m/ip"}
    verified("vera")
    statuses = [attempt(client, "vera", "guess").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
