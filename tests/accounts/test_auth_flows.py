"""The way in, through django-allauth's real views: sign-up with email verification, login,
logout with its confirmation page, password reset by email."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from accounts.models import Membership, Organization
from billing.models import Wallet
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "a-long-enough-passphrase-42"


def sign_up(client, email: str, organization_name: str = "", **extra):
    data = {"email": email, "organization_name": organization_name, "password1": PASSWORD, "password2": PASSWORD}
    return client.post(reverse("account_signup"), {**data, **extra})


def link_in(message, pattern: str) -> str:
    match = re.search(rf"https?://testserver(/{pattern}[^\s]*)", message.body)
    assert match, message.body
    return match.group(1)


def verify_from_mail(client, message) -> None:
    url = link_in(message, "accounts/confirm-email/")
    assert client.get(url).status_code == 200  # the confirmation page
    response = client.post(url)
    assert response.status_code == 302


def verified_user(username: str = "vera", email: str = "vera@example.com"):
    user = UserFactory(username=username, email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def test_sign_up_sends_a_verification_mail_and_creates_the_organization(client):
    response = sign_up(client, "newbie@example.com", "Newbie Studio")
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    user = User.objects.get(email="newbie@example.com")
    membership = Membership.objects.get(user=user)
    assert membership.role == Membership.Role.OWNER
    assert membership.organization.name == "Newbie Studio"
    assert Wallet.objects.filter(organization=membership.organization).exists()
    assert membership.organization.webhook_secret.startswith("whsec_")
    # Verification is mandatory: no dashboard until the address is confirmed (/ is the public
    # landing page for anyone not signed in).
    home = client.get(reverse("dashboard:home"))
    assert "Newbie Studio" not in home.content.decode()
    assert "landing.html" in [t.name for t in home.templates]
    assert client.get(reverse("dashboard:restore")).status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["newbie@example.com"]
    verify_from_mail(client, mail.outbox[0])
    assert EmailAddress.objects.get(user=user).verified
    body = client.get(reverse("dashboard:home")).content.decode()
    assert "Newbie Studio" in body


def test_an_organization_name_left_empty_is_named_after_the_address(client):
    sign_up(client, "solo@example.com")
    assert Membership.objects.get(user__email="solo@example.com").organization.name == "solo's organization"


def test_sign_up_with_a_taken_email_creates_nothing_and_mails_the_owner(client):
    owner = verified_user()
    response = sign_up(client, "VERA@example.com", "Copycat")
    # allauth does not reveal that the address exists: same answer, a mail to the real owner.
    assert response.status_code == 302
    assert not Organization.objects.filter(name="Copycat").exists()
    assert User.objects.filter(email__iexact="vera@example.com").count() == 1
    assert mail.outbox[-1].to == [owner.email]


def test_sign_up_with_mismatched_passwords_creates_nothing(client):
    response = sign_up(client, "typo@example.com", "Typo Inc", password2="something-else-entirely")
    assert response.status_code == 200
    assert "You must type the same password each time" in response.content.decode()
    assert not User.objects.filter(email="typo@example.com").exists()
    assert not Organization.objects.filter(name="Typo Inc").exists()
    assert mail.outbox == []


def test_a_verified_user_logs_in_with_email_or_username(client):
    verified_user()
    for login in ("vera@example.com", "vera"):
        response = client.post(reverse("account_login"), {"login": login, "password": DEFAULT_PASSWORD})
        assert response.status_code == 302, response.content.decode()
        assert client.get(reverse("dashboard:no_organization")).status_code == 200
        client.post(reverse("account_logout"))


def test_an_unverified_user_gets_a_verification_mail_instead_of_a_session(client):
    UserFactory(username="ursula", email="ursula@example.com")
    response = client.post(reverse("account_login"), {"login": "ursula", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("account_email_verification_sent")
    assert mail.outbox[-1].to == ["ursula@example.com"]
    assert client.get(reverse("dashboard:keys")).status_code == 302


def test_logout_asks_for_confirmation_and_post_logs_out(client):
    user = verified_user()
    client.force_login(user)
    page = client.get(reverse("account_logout"))
    assert page.status_code == 200
    assert "Log out of CodeFormer Cloud on this browser?" in page.content.decode()
    assert client.get(reverse("dashboard:no_organization")).status_code == 200  # still signed in
    client.post(reverse("account_logout"))
    assert client.get(reverse("dashboard:no_organization")).status_code == 302


def test_password_reset_by_email(client):
    user = verified_user()
    response = client.post(reverse("account_reset_password"), {"email": "vera@example.com"})
    assert response.status_code == 302
    url = link_in(mail.outbox[-1], "accounts/password/reset/key/")
    form_page = client.get(url, follow=True)  # allauth swaps the key for a session and redirects
    assert form_page.status_code == 200
    new_password = "a-brand-new-passphrase-77"
    response = client.post(form_page.redirect_chain[-1][0], {"password1": new_password, "password2": new_password})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new_password)
    assert client.post(reverse("account_login"), {"login": "vera", "password": new_password}).status_code == 302


def test_password_reset_for_an_unknown_address_changes_nothing(client):
    user = verified_user()
    response = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert response.status_code == 302  # no enumeration
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)
    assert all("nobody@example.com" not in m.to or "password/reset/key" not in m.body for m in mail.outbox)


def test_the_old_dashboard_account_urls_still_work(client):
    assert reverse("dashboard:login") == reverse("account_login")
    assert reverse("dashboard:signup") == reverse("account_signup")
    assert reverse("dashboard:logout") == reverse("account_logout")
    response = client.get("/accounts/password/")
    assert response.status_code == 301 and response["Location"] == reverse("account_change_password")


def test_account_pages_use_the_project_layout(client):
    for name in ("account_login", "account_signup", "account_reset_password"):
        body = client.get(reverse(name)).content.decode()
        assert "auth-card" in body and "css/app.css" in body, name
    client.force_login(verified_user())
    for name in ("account_change_password", "account_email", "mfa_index", "account_logout"):
        body = client.get(reverse(name)).content.decode()
        assert 'class="sidebar"' in body and "css/app.css" in body, name


def test_a_password_change_is_announced_to_the_accounts_address(client):
    user = verified_user()
    user.set_password(PASSWORD)
    user.save()
    client.force_login(user)
    mail.outbox.clear()
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": "another-long-passphrase-7", "password2": "another-long-passphrase-7"},
    )
    assert response.status_code == 302
    (notice,) = mail.outbox
    assert notice.to == ["vera@example.com"]
    assert notice.subject.startswith("[CodeFormer Cloud] ")
    assert "Your password has been changed." in notice.body
    assert "IP address: 127.0.0.1" in notice.body


def test_a_new_primary_address_is_announced_to_the_old_one(client):
    user = verified_user()
    EmailAddress.objects.create(user=user, email="vera.new@example.com", verified=True, primary=False)
    client.force_login(user)
    mail.outbox.clear()
    response = client.post(reverse("account_email"), {"action_primary": "", "email": "vera.new@example.com"})
    assert response.status_code == 302
    assert EmailAddress.objects.get_primary_email(user) == "vera.new@example.com"
    notices = [m for m in mail.outbox if "vera@example.com" in m.to]
    assert notices, [(m.to, m.subject) for m in mail.outbox]
    assert "vera.new@example.com" in notices[0].body


def test_two_factor_refused_for_an_unverified_extra_address_says_which_address_to_fix(client):
    user = verified_user()
    EmailAddress.objects.create(user=user, email="old.work@example.com", verified=False, primary=False)
    client.force_login(user)
    response = client.get(reverse("mfa_activate_totp"), follow=True)
    body = response.content.decode()
    assert "once every email address on your account is verified" in body
    assert "until you have verified your email address" not in body
    EmailAddress.objects.filter(email="old.work@example.com").delete()
    after = client.get(reverse("mfa_activate_totp"))  # no longer refused: on to the set-up (after reauthentication)
    assert after.status_code == 302 and after["Location"].startswith(reverse("account_reauthenticate"))
