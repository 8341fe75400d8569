"""The public landing page at / for a visitor (what the product is, how it works, live prices,
the trial credit, the model licence), the one-line product pitch on the login and sign-up pages,
and an expired or used confirmation link that leads somewhere."""

from __future__ import annotations

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.cache import cache
from django.urls import reverse

from accounts.services import default_plan
from billing.models import Plan, PlanPrice, PriceItem
from billing.money import format_money
from billing.pricing import price_table_forget
from tests.accounts.test_auth_flows import link_in, sign_up, verify_from_mail

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_price_tables():
    price_table_forget()
    yield
    price_table_forget()


def landing(client) -> str:
    response = client.get("/")
    assert response.status_code == 200
    assert next(t.name for t in response.templates) == "landing.html"
    return response.content.decode()


def test_a_visitor_at_the_root_gets_the_landing_page_not_the_login_form(client):
    body = landing(client)
    assert "CodeFormer" in body and "face" in body and "HTTP API" in body and "web dashboard" in body
    assert "How it works" in body and body.count('<ol class="steps">') == 1
    for name in ("account_signup", "account_login", "swagger-ui"):
        assert f'href="{reverse(name)}"' in body
    assert "/codeformer-image-restoration/v1/codeformer/generate" in body  # a real API call


def test_a_signed_in_member_still_gets_the_overview(owner_client, org):
    response = owner_client.get("/")
    assert "<h1>Acme Photos</h1>" in response.content.decode()
    assert "landing.html" not in [t.name for t in response.templates]


def test_the_prices_come_from_the_price_tables_and_the_plans(client):
    PriceItem.objects.filter(code="restore_base").update(amount=37)
    standard = default_plan()
    pro = Plan.objects.get(code="pro")
    PlanPrice.objects.filter(plan=pro, code="restore_base").update(amount=23)
    pro.monthly_price = 7700
    pro.save()
    price_table_forget()

    body = landing(client)
    prices = body[body.index("data-prices") :]
    standard_row = prices[prices.index(f'data-plan="{standard.code}"') :]
    standard_row = standard_row[: standard_row.index("</tr>")]
    assert format_money(37) in standard_row  # list price, 2x with nothing extra
    pro_row = prices[prices.index('data-plan="pro"') :]
    pro_row = pro_row[: pro_row.index("</tr>")]
    assert format_money(23) in pro_row and format_money(7700) in pro_row
    assert "Pro" in pro_row


def test_a_plan_that_is_not_public_is_not_listed(client):
    Plan.objects.filter(code="pro").update(is_public=False)
    assert 'data-plan="pro"' not in landing(client)


def test_the_trial_credit_is_the_one_a_sign_up_gets(client):
    plan = default_plan()
    plan.trial_credit = 234
    plan.save()
    body = landing(client)
    assert re.search(r"data-trial-credit>[^<]*\$2\.34 of trial credit", body)
    signup = client.get(reverse("account_signup")).content.decode()
    assert "$2.34 of trial credit" in signup


def test_no_trial_credit_is_promised_when_the_plan_has_none(client):
    Plan.objects.filter(pk=default_plan().pk).update(trial_credit=0)
    assert "data-trial-credit" not in landing(client)


def test_the_model_licence_is_stated(client):
    body = landing(client)
    licence = body[body.index("data-licences") :]
    assert "S-Lab License 1.0" in licence and "non-commercial use only" in licence
    assert 'href="https://github.com/sczhou/CodeFormer/blob/master/LICENSE"' in licence


@pytest.mark.parametrize("name", ["account_login", "account_signup"])
def test_login_and_sign_up_say_what_the_product_is_and_link_to_it(client, name):
    body = client.get(reverse(name)).content.decode()
    line = body[body.index("data-product-line") :]
    line = line[: line.index("</p>")]
    assert "restores faces in old and blurry photos" in line
    assert f'href="{reverse("dashboard:home")}"' in line


def _assert_expired_link_page(body: str) -> None:
    assert "data-link-expired" in body
    assert f'href="{reverse("account_login")}"' in body
    assert f'href="{reverse("account_email")}"' in body
    assert "Send a new confirmation email" in body


def test_an_invalid_confirmation_link_offers_to_log_in_or_send_a_new_one(client):
    response = client.get(reverse("account_confirm_email", args=["no-such-key"]))
    assert response.status_code == 200
    _assert_expired_link_page(response.content.decode())


def test_a_used_confirmation_link_offers_to_log_in_and_logging_in_sends_a_new_link_when_needed(client):
    cache.clear()
    assert sign_up(client, "newbie@example.com").status_code == 302
    (message,) = mail.outbox
    url = link_in(message, "accounts/confirm-email/")
    verify_from_mail(client, message)
    client.logout()
    _assert_expired_link_page(client.get(url).content.decode())


def test_logging_in_unverified_sends_a_new_confirmation_as_the_page_says(client):
    cache.clear()
    assert sign_up(client, "late@example.com").status_code == 302
    mail.outbox.clear()
    cache.clear()  # allauth's cooldown between two mails to one address
    client.post(reverse("account_login"), {"login": "late@example.com", "password": "a-long-enough-passphrase-42"})
    assert not EmailAddress.objects.get(email="late@example.com").verified
    assert len(mail.outbox) == 1 and "confirm-email" in mail.outbox[0].body


def test_the_column_named_the_gateways_default_is_what_a_default_gateway_request_costs(client):
    from billing.pricing import price_for
    from jobs.types import JobParams
    from restoration.api.serializers import GenerateJSONRequest
    from restoration.dashboard import landing as landing_page

    fields = GenerateJSONRequest(data={"image_base64": "x"})
    assert fields.is_valid(), fields.errors
    params = JobParams.from_values(fields.validated_data)  # the documented defaults, as the view builds them
    html = landing(client)
    assert "the gateway&#x27;s default" in html or "the gateway's default" in html
    for offer in landing_page.plan_offers():
        assert offer.with_extras == price_for(params, plan=offer.plan, width=64, height=64)
