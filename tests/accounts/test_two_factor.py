"""Optional two-factor authentication (allauth.mfa): TOTP with recovery codes."""

from __future__ import annotations

import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import SECRET_SESSION_KEY, format_hotp_value, hotp_value
from django.urls import reverse

from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def totp_now(secret: str) -> str:
    return format_hotp_value(hotp_value(secret, int(time.time()) // mfa_settings.TOTP_PERIOD))


def log_in(client, login: str = "vera"):
    return client.post(reverse("account_login"), {"login": login, "password": DEFAULT_PASSWORD})


def signed_in(client) -> bool:
    return client.get(reverse("dashboard:no_organization")).status_code == 200


@pytest.fixture
def user(db):
    user = UserFactory(username="vera", email="vera@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def enable_totp(client) -> str:
    assert log_in(client).status_code == 302
    # Changing security settings asks for the password again first.
    response = client.get(reverse("mfa_activate_totp"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("account_reauthenticate"))
    assert "auth-card" in client.get(response["Location"]).content.decode()  # the project layout
    assert client.post(response["Location"], {"password": DEFAULT_PASSWORD}).status_code == 302
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200
    secret = client.session[SECRET_SESSION_KEY]
    assert secret in page.content.decode()  # shown for typing into an authenticator app
    wrong = client.post(reverse("mfa_activate_totp"), {"code": "000000" if totp_now(secret) != "000000" else "111111"})
    assert wrong.status_code == 200 and not Authenticator.objects.exists()
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_now(secret)})
    assert response.status_code == 302
    client.post(reverse("account_logout"))
    return secret


def test_without_2fa_a_password_is_enough(client, user):
    assert log_in(client).status_code == 302
    assert signed_in(client)


def test_enabling_totp_makes_login_ask_for_a_code(client, user):
    secret = enable_totp(client)
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.RECOVERY_CODES).exists()

    response = log_in(client)
    assert response.status_code == 302 and response["Location"] == reverse("mfa_authenticate")
    assert not signed_in(client)  # the password alone does not give a session
    page = client.get(reverse("mfa_authenticate"))
    assert page.status_code == 200 and "auth-card" in page.content.decode()
    bad = client.post(reverse("mfa_authenticate"), {"code": "12345"})
    assert bad.status_code == 200 and not signed_in(client)
    assert client.post(reverse("mfa_authenticate"), {"code": totp_now(secret)}).status_code == 302
    assert signed_in(client)


def test_a_recovery_code_works_once(client, user):
    enable_totp(client)
    codes = RecoveryCodes(
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    ).get_unused_codes()
    log_in(client)
    assert client.post(reverse("mfa_authenticate"), {"code": codes[0]}).status_code == 302
    assert signed_in(client)
    client.post(reverse("account_logout"))
    log_in(client)
    assert client.post(reverse("mfa_authenticate"), {"code": codes[0]}).status_code == 200
    assert not signed_in(client)
