"""Small things a first customer trips over: the login page offers the password reset once, and
the API docs know a signed-in customer (their keys, not "log in")."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_login_page_links_to_the_password_reset_once(client):
    body = client.get(reverse("account_login")).content.decode()
    assert body.count(f'href="{reverse("account_reset_password")}"') == 1


@pytest.mark.parametrize("name", ["swagger-ui", "redoc"])
def test_the_api_docs_point_a_signed_in_customer_at_their_keys(owner_client, org, name):
    body = owner_client.get(reverse(name)).content.decode()
    assert f'href="{reverse("dashboard:keys")}"' in body
    assert "log in</a> to create one" not in body
    assert ">Log in</a>" not in body


@pytest.mark.parametrize("name", ["swagger-ui", "redoc"])
def test_the_api_docs_ask_a_visitor_to_log_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 200
    assert f'href="{reverse("account_login")}"' in response.content.decode()


def test_the_check_your_email_page_is_no_dead_end(client):
    """After signing up: how to get a new link (logging in again sends one) or fix the address."""
    password = "a-long-enough-passphrase-42"
    response = client.post(
        reverse("account_signup"),
        {"email": "newbie@example.com", "organization_name": "", "password1": password, "password2": password},
        follow=True,
    )
    body = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("account_email_verification_sent")
    assert "Check your email" in body
    assert f'href="{reverse("account_login")}"' in body
    assert f'href="{reverse("account_signup")}"' in body
    assert "Please contact us" not in body  # no contact to write to on that page


def test_a_staff_user_without_an_organization_is_pointed_at_the_staff_console(client):
    from tests.accounts.factories import UserFactory

    staff = UserFactory(username="ops", is_staff=True)
    client.force_login(staff)
    body = client.get(reverse("dashboard:no_organization")).content.decode()
    assert f'href="{reverse("staff:home")}"' in body


def test_a_customer_without_an_organization_is_not_offered_the_staff_console(client):
    from tests.accounts.factories import UserFactory

    client.force_login(UserFactory(username="loner"))
    body = client.get(reverse("dashboard:no_organization")).content.decode()
    assert reverse("staff:home") not in body
