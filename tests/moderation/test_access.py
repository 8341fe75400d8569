"""Staff access: staff status for every trust and safety page (others get 404, visitors the login
page), roles inside staff, and a second factor (allauth.mfa) when STAFF_REQUIRE_2FA is on."""

from __future__ import annotations

import time

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa import app_settings as mfa_settings
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, generate_totp_secret, hotp_value
from django.test import Client
from django.urls import reverse

from moderation import services
from moderation.access import staff_role
from moderation.models import StaffMember
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.moderation.conftest import completed_job

pytestmark = pytest.mark.django_db
PAGES = ["moderation:queue", "moderation:blocklist", "moderation:audit", "staff:home"]


@pytest.mark.parametrize("name", PAGES)
def test_a_customer_gets_a_404_and_a_visitor_the_login_page(acme, name):
    url = reverse(name)
    visitor = Client().get(url)
    assert visitor.status_code == 302 and visitor["Location"].startswith(reverse("account_login"))
    customer = Client()
    customer.force_login(acme.owner)
    assert customer.get(url).status_code == 404


def test_staff_actions_are_404_to_customers_and_change_nothing(acme, admin_user, photo):
    job = completed_job(acme.org, photo)
    item = services.job_flag(job=job, actor=admin_user, reason="x")
    customer = Client()
    customer.force_login(acme.owner)
    for action in ("hide", "delete", "refund", "suspend_organization"):
        assert (
            customer.post(reverse("moderation:item_action", args=[item.id, action]), {"reason": "x"}).status_code == 404
        )
    assert customer.post(reverse("moderation:job_flag", args=[job.id]), {"reason": "x"}).status_code == 404
    job.refresh_from_db()
    assert job.moderated_at is None and item.actions.count() == 1


def test_roles(admin_user, support_user):
    plain_staff = UserFactory(username="plain", is_staff=True)
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    customer = UserFactory(username="cust")
    assert [staff_role(u) for u in (admin_user, support_user, plain_staff, superuser, customer)] == [
        StaffMember.Role.ADMIN,
        StaffMember.Role.SUPPORT,
        StaffMember.Role.SUPPORT,  # staff without a role row reads and flags only
        StaffMember.Role.ADMIN,
        None,
    ]


def test_support_may_read_everything_but_not_adjust_wallets_or_suspend(support_client, acme):
    assert support_client.get(reverse("moderation:queue")).status_code == 200
    assert support_client.get(reverse("moderation:audit")).status_code == 200
    assert support_client.get(reverse("staff:organization_detail", args=[acme.org.id])).status_code == 200
    refused = support_client.post(
        reverse("staff:organization_detail", args=[acme.org.id]),
        {"amount": "500", "reason": "gift", "token": "8f0c2a52-93f5-4bd4-9d35-2a4b1a0d3f11"},
    )
    assert refused.status_code == 403
    assert (
        support_client.post(
            reverse("staff:organization_status", args=[acme.org.id]), {"status": "suspended", "reason": "r"}
        ).status_code
        == 403
    )
    acme.org.refresh_from_db()
    assert acme.org.wallet.balance == 1000 and acme.org.is_active


def _verified_staff(username: str):
    user = UserFactory(username=username, email=f"{username}@staff.test", is_staff=True)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    StaffMember.objects.create(user=user, role=StaffMember.Role.ADMIN)
    return user


def test_with_2fa_required_a_password_only_session_is_refused(settings):
    settings.STAFF_REQUIRE_2FA = True
    user = _verified_staff("pat")
    browser = Client()
    assert browser.post(reverse("account_login"), {"login": "pat", "password": DEFAULT_PASSWORD}).status_code == 302
    response = browser.get(reverse("moderation:queue"))
    assert response.status_code == 403
    assert "Two-factor sign-in required" in response.content.decode()
    assert reverse("mfa_index") in response.content.decode()
    assert user.is_authenticated


def test_with_2fa_required_a_session_that_passed_totp_gets_in(settings):
    settings.STAFF_REQUIRE_2FA = True
    user = _verified_staff("tina")
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    browser = Client()
    login = browser.post(reverse("account_login"), {"login": "tina", "password": DEFAULT_PASSWORD})
    assert login.status_code == 302 and login["Location"] == reverse("mfa_authenticate")
    code = format_hotp_value(hotp_value(secret, int(time.time()) // mfa_settings.TOTP_PERIOD))
    passed = browser.post(reverse("mfa_authenticate"), {"code": code})
    assert passed.status_code == 302, passed.content.decode()[:500]
    assert browser.get(reverse("moderation:queue")).status_code == 200
    assert browser.get(reverse("staff:home")).status_code == 200


def test_2fa_is_required_by_default_outside_development():
    import subprocess
    import sys

    code = (
        "import os; os.environ.pop('DJANGO_DEBUG', None); os.environ['SECRET_KEY']='x'; os.environ['ALLOWED_HOSTS']='a';"
        "os.environ.pop('STAFF_REQUIRE_2FA', None); import django; from django.conf import settings;"
        "os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; print(settings.STAFF_REQUIRE_2FA)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
