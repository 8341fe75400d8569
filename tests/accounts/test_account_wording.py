"""The account pages (allauth's, overridden in templates/account/) speak like the dashboard:
people are named by their name or email address, never by the username allauth derived for
them; sentence case and "Log out" throughout; no button that would do nothing."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.urls import reverse

from tests.accounts.factories import DEFAULT_PASSWORD, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

# allauth derives a username like this one from the address; the person never saw it.
DERIVED = "awalk7"
EMAIL = "alice.walk@example.com"


@pytest.fixture
def alice():
    user = UserFactory(username=DERIVED, email=EMAIL)
    EmailAddress.objects.create(user=user, email=EMAIL, verified=True, primary=True)
    OrganizationFactory(name="Alice Photo Studio", owner=user, initial_credit=100)
    return user


def text_of(response) -> str:
    return response.content.decode()


def buttons(html: str) -> list[str]:
    return re.findall(r'<button[^>]*name="(action_\w+)"', html)


def test_logging_in_greets_the_person_by_email_address_not_by_the_derived_username(client, alice):
    response = client.post(reverse("account_login"), {"login": EMAIL, "password": DEFAULT_PASSWORD}, follow=True)
    body = text_of(response)
    assert f"Logged in as {EMAIL}." in body
    assert '<span class="muted small who">alice.walk@example.com</span>' in body  # the header
    assert DERIVED not in body
    assert "Successfully signed in" not in body


def test_a_person_with_a_name_is_shown_by_name(client, alice):
    alice.first_name, alice.last_name = "Alice", "Walker"
    alice.save()
    client.force_login(alice)
    assert '<span class="muted small who">Alice Walker</span>' in text_of(client.get(reverse("dashboard:home")))


def test_the_login_and_logout_pages_say_log_out_and_use_sentence_case(client, alice):
    login = text_of(client.get(reverse("account_login")))
    assert "Remember me" in login and "Remember Me" not in login
    assert '<label for="id_login">Email address</label>' in login and "Username or email" not in login
    client.force_login(alice)
    logout = text_of(client.get(reverse("account_logout")))
    assert "<h1>Log out</h1>" in logout and "<title>Log out · CodeFormer Cloud</title>" in logout
    assert "Sign Out" not in logout and "sign out" not in logout.lower()
    client.post(reverse("account_logout"))
    after = text_of(client.get(reverse("account_login")))
    assert "You have logged out." in after and "signed out" not in after


def test_the_password_pages_use_sentence_case(client, alice):
    client.force_login(alice)
    page = text_of(client.get(reverse("account_change_password")))
    for label in ("Current password", "New password", "New password (again)", "<h1>Change password</h1>"):
        assert label in page
    assert "Current Password" not in page and "New Password" not in page and "Change Password" not in page
    client.logout()
    reset = text_of(client.get(reverse("account_reset_password")))
    assert "<h1>Reset your password</h1>" in reset and "Reset My Password" not in reset


def test_the_only_address_offers_no_action_that_would_do_nothing(client, alice):
    client.force_login(alice)
    page = text_of(client.get(reverse("account_email")))
    assert "<h1>Email addresses</h1>" in page
    assert buttons(page) == ["action_add"]  # already primary and verified; the primary cannot be removed
    assert "Make Primary" not in page and "Add Email Address" not in page


def test_each_other_address_offers_only_what_applies_to_it(client, alice):
    EmailAddress.objects.create(user=alice, email="alice@work.example", verified=True, primary=False)
    EmailAddress.objects.create(user=alice, email="alice@old.example", verified=False, primary=False)
    client.force_login(alice)
    page = text_of(client.get(reverse("account_email")))
    items = dict(re.findall(r'<li data-email="([^"]+)">(.*?)</li>', page, flags=re.S))
    assert buttons(items[EMAIL]) == []
    assert buttons(items["alice@work.example"]) == ["action_primary", "action_remove"]
    assert buttons(items["alice@old.example"]) == ["action_send", "action_remove"]
    # The per-address form does what it says.
    response = client.post(reverse("account_email"), {"email": "alice@work.example", "action_primary": ""})
    assert response.status_code == 302
    assert EmailAddress.objects.get(user=alice, primary=True).email == "alice@work.example"


def test_the_verification_mail_and_page_name_the_product_not_a_username(client):
    client.post(
        reverse("account_signup"),
        {
            "email": "newbie@example.com",
            "password1": "a-long-enough-passphrase-42",
            "password2": "a-long-enough-passphrase-42",
        },
    )
    message = mail.outbox[-1]
    assert message.subject == "[CodeFormer Cloud] Confirm your email address"
    assert "create a CodeFormer Cloud account" in message.body
    assert "has given your email address" not in message.body and "user newbie" not in message.body
    assert "127.0.0.1" not in message.body.split("http")[0]  # the product, not a host, says who we are
    url = re.search(r"https?://testserver(/accounts/confirm-email/\S+)", message.body).group(1)
    page = text_of(client.get(url))
    assert "<h1>Confirm your email address</h1>" in page
    assert "is your address for CodeFormer Cloud" in page
    assert "for user" not in page and "Confirm Email Address" not in page


def test_the_password_reset_mail_does_not_reveal_a_username(client, alice):
    client.post(reverse("account_reset_password"), {"email": EMAIL})
    message = mail.outbox[-1]
    assert message.subject == "[CodeFormer Cloud] Reset your password"
    assert DERIVED not in message.body and "username" not in message.body
    assert "/accounts/password/reset/key/" in message.body


# --- The two-factor pages: allauth's title case, read through locale/en ---------------------------

LOCALE = __import__("pathlib").Path(__file__).resolve().parents[2] / "locale" / "en" / "LC_MESSAGES"


def _catalog_of_po(path) -> dict[str, str]:
    """The msgid -> msgstr pairs of a catalog of one-line entries, as locale/en's are."""
    pairs, msgid = {}, None
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("msgid "):
            msgid = line[len("msgid ") :].strip().strip('"')
        elif line.startswith("msgstr ") and msgid:
            pairs[msgid] = line[len("msgstr ") :].strip().strip('"').replace("\\'", "'")
    return pairs


def test_the_compiled_catalog_says_what_its_source_says():
    import gettext

    with (LOCALE / "django.mo").open("rb") as compiled:
        translations = gettext.GNUTranslations(compiled)
    source = _catalog_of_po(LOCALE / "django.po")
    assert len(source) > 20
    assert {msgid: translations.gettext(msgid) for msgid in source} == source


def test_every_translated_text_is_in_sentence_case():
    for msgid, msgstr in _catalog_of_po(LOCALE / "django.po").items():
        assert msgstr.lower() == msgid.lower() or msgstr[0].isupper(), msgid
        words = msgstr.split()
        assert all(word == word.lower() for word in words[1:]), msgstr


def test_the_two_factor_pages_read_in_sentence_case(client, alice):
    client.force_login(alice)
    index = text_of(client.get(reverse("mfa_index")))
    assert "Two-factor authentication" in index and "Authenticator app" in index and "Recovery codes" in index
    # Setting up an authenticator asks for the password again first.
    confirm = client.get(reverse("mfa_activate_totp"))["Location"]
    assert client.post(confirm, {"password": DEFAULT_PASSWORD}).status_code == 302
    activate = text_of(client.get(reverse("mfa_activate_totp")))
    assert "Activate an authenticator app" in activate
    for page in (index, activate):
        assert "Two-Factor Authentication" not in page
        assert "Authenticator App" not in page
        assert "Recovery Codes" not in page


def test_confirming_access_reads_in_sentence_case(client, alice):
    client.force_login(alice)  # no recent password: setting up an authenticator asks again
    page = text_of(client.get(reverse("mfa_activate_totp"), follow=True))
    assert "Confirm it's you" in page or "Confirm it&#x27;s you" in page
    assert "Confirm Access" not in page
