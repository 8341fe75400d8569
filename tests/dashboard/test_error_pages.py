"""Error pages keep the product's layout and say what to do; the CSRF failure page too."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Subscription
from tests.dashboard.conftest import submit_job


def _assert_product_page(response, status: int, title: str):
    assert response.status_code == status
    html = response.content.decode()
    assert f"<title>{title} · CodeFormer Cloud</title>" in html
    assert 'class="brand"' in html and 'rel="icon"' in html  # the layout, not Django's bare page
    return html


def test_an_unknown_page_is_a_styled_404(owner_client):
    html = _assert_product_page(owner_client.get("/no/such/page/"), 404, "Page not found")
    assert "/no/such/page/" in html
    assert "Go to the overview" in html


def test_another_tenants_job_is_the_same_styled_404(outsider_client, org):
    job = submit_job(org)
    html = _assert_product_page(outsider_client.get(f"/jobs/{job.request_id}/"), 404, "Page not found")
    assert job.request_id not in html.split("<code>")[0]  # nothing about the job leaks above the path


def test_a_member_without_the_role_gets_a_styled_403_with_the_reason(teammate_client):
    response = teammate_client.post("/keys/new/", {"name": "ci"})
    html = _assert_product_page(response, 403, "Not allowed")
    assert "Only owners and admins of this organization can do that." in html
    assert not Subscription.objects.filter(name="ci").exists()


def test_a_form_without_its_csrf_token_gets_the_styled_csrf_page_and_changes_nothing(owner, org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post("/keys/new/", {"name": "forged"}, HTTP_REFERER="http://testserver/keys/")

    html = _assert_product_page(response, 403, "Form expired")
    assert "Nothing was changed." in html
    assert 'href="http://testserver/keys/"' in html  # back to the form it came from
    assert not Subscription.objects.filter(name="forged").exists()


def test_the_csrf_page_never_links_to_another_site(owner, org):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)

    response = client.post("/keys/new/", {"name": "x"}, HTTP_REFERER="https://evil.example/phish")

    html = _assert_product_page(response, 403, "Form expired")
    assert "evil.example" not in html


def test_a_server_error_is_a_styled_500(owner_client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("restoration.dashboard.views.wallet_for", broken)
    owner_client.raise_request_exception = False

    html = _assert_product_page(owner_client.get("/"), 500, "Something went wrong")
    assert "database on fire" not in html
    assert "try again" in html


@pytest.mark.django_db
def test_the_favicon_is_served_for_clients_that_ask_for_favicon_ico(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("/img/favicon-32.png")
    assert client.get(response["Location"]).status_code == 200
