"""The wallet page's forms as a paying customer meets them: the country is picked by name, a
refused form comes back with what was typed and each error at its field, a plan switch asks first
and says what it lowers, and the Pro plan can be asked for by email."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from accounts.models import Organization
from billing.models import BillingAccount, KeySpendLimit, Plan
from tests.accounts.factories import make_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def stripe_on(settings):
    settings.STRIPE_SECRET_KEY = "sk_test_wallet_forms"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_wallet_forms"
    return settings


def _account(org) -> BillingAccount:
    return BillingAccount.objects.get_or_create(organization=org)[0]


def _tag(html: str, tag: str, name: str, attribute: str = "name") -> str:
    """The opening tag of the first ``<tag>`` whose ``attribute`` is ``name``."""
    match = re.search(rf'<{tag}\b[^>]*\b{attribute}="{re.escape(name)}"[^>]*>', html)
    assert match, f"no <{tag} {attribute}={name}> in the page"
    return match.group(0)


# --- Country ---------------------------------------------------------------------------------


def test_the_country_is_picked_by_name_from_a_list_of_iso_codes(owner_client, org):
    _account(org)
    BillingAccount.objects.filter(organization=org).update(country="GE")
    html = owner_client.get(reverse("dashboard:wallet")).content.decode()

    assert _tag(html, "select", "country")
    assert '<option value="DE">Germany</option>' in html
    assert '<option value="NR">Nauru</option>' in html and '<option value="BS">Bahamas</option>' in html
    assert '<option value="GE" selected>Georgia</option>' in html
    assert "Two letters" not in html

    response = owner_client.post(reverse("dashboard:billing_details"), {"country": "DE"})
    assert response.status_code == 302
    assert _account(org).country == "DE"


def test_a_country_that_is_no_iso_code_is_an_error_at_the_field_never_cut_to_two_letters(owner_client, org):
    response = owner_client.post(
        reverse("dashboard:billing_details"), {"billing_name": "Acme Photos GmbH", "country": "Germany"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "Choose the country from the list; “Germany” is not a country code we know." in html
    assert 'aria-invalid="true"' in _tag(html, "select", "country")
    assert 'value="Acme Photos GmbH"' in _tag(html, "input", "billing_name")
    account = _account(org)
    assert (account.country, account.billing_name) == ("", "")


def test_a_code_saved_by_the_old_form_shows_as_saved_and_is_refused_not_cleared_on_a_resave(owner_client, org):
    _account(org)
    BillingAccount.objects.filter(organization=org).update(country="UK", billing_name="Acme Ltd")
    html = owner_client.get(reverse("dashboard:wallet")).content.decode()

    assert '<option value="UK" selected>UK (not a country code: choose the country)</option>' in html

    response = owner_client.post(reverse("dashboard:billing_details"), {"billing_name": "Acme Ltd", "country": "UK"})
    assert response.status_code == 400
    assert "“UK” is not a country code we know" in response.content.decode()
    assert _account(org).country == "UK"  # kept until someone chooses a country


# --- Errors at their fields, typed values kept --------------------------------------------------


def test_refused_billing_details_come_back_with_what_was_typed_and_the_bad_field_marked(owner_client, org):
    typed = {"billing_name": "Acme Photos GmbH", "billing_email": "accounts-at-acme", "city": "Berlin"}

    response = owner_client.post(reverse("dashboard:billing_details"), typed)

    assert response.status_code == 400
    html = response.content.decode()
    email = _tag(html, "input", "billing_email")
    assert 'value="accounts-at-acme"' in email and 'aria-invalid="true"' in email and "autofocus" in email
    assert 'aria-describedby="id_billing_email_helptext id_billing_email_error"' in email
    assert '<ul class="errorlist" id="id_billing_email_error"><li>Enter a valid email address.</li></ul>' in html
    assert '<p class="field-invalid"><label for="id_billing_email">Billing email</label>' in html
    assert 'value="Berlin"' in _tag(html, "input", "city")
    assert "aria-invalid" not in _tag(html, "input", "city")
    assert "Billing details not saved: check Billing email below." in html
    assert "billing_email:" not in html
    assert _account(org).billing_name == ""


def test_refused_spend_controls_name_the_fields_by_label_and_keep_the_typed_values(owner_client, org):
    response = owner_client.post(
        reverse("dashboard:spend_controls"),
        {"monthly_spend_limit": "-5", "spend_alert_percents": "eighty", "low_balance_threshold": "2.50"},
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert "Spend controls not saved: check Monthly spend limit ($), Alert at (% of the limit) below." in html
    limit = _tag(html, "input", "monthly_spend_limit")
    assert 'value="-5"' in limit and 'aria-invalid="true"' in limit and "autofocus" in limit
    percents = _tag(html, "input", "spend_alert_percents")
    assert 'value="eighty"' in percents and 'aria-invalid="true"' in percents and "autofocus" not in percents
    assert "Enter whole percentages separated by commas, e.g. 80,100." in html
    assert 'value="2.50"' in _tag(html, "input", "low_balance_threshold")
    assert "monthly_spend_limit:" not in html and "spend_alert_percents:" not in html
    account = _account(org)
    assert (account.monthly_spend_limit, account.low_balance_threshold) == (None, None)


def test_a_refused_auto_recharge_keeps_its_values_and_shows_the_reason_in_the_form(owner_client, org, stripe_on):
    typed = {"enabled": "on", "threshold": "5", "amount": "20.00", "monthly_cap": "60"}

    response = owner_client.post(reverse("dashboard:auto_recharge"), typed)

    assert response.status_code == 400
    html = response.content.decode()
    assert '<ul class="errorlist nonfield" role="alert"><li>Top up once by card first' in html
    assert "Auto-recharge not saved: Top up once by card first" in html
    assert 'value="20.00"' in _tag(html, "input", "id_recharge_amount", "id")
    assert "checked" in _tag(html, "input", "enabled")
    assert not _account(org).auto_recharge_enabled


def test_an_invalid_auto_recharge_amount_is_marked_at_its_own_field(owner_client, org, stripe_on):
    response = owner_client.post(
        reverse("dashboard:auto_recharge"), {"threshold": "lots", "amount": "20", "monthly_cap": "60"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert re.search(r'<input type="text" name="threshold" value="lots"[^>]*aria-invalid="true"', html)
    assert '<label for="id_recharge_threshold">Threshold ($)</label>' in html
    assert "Auto-recharge not saved: check Threshold ($) below." in html


def test_the_auto_recharge_fields_do_not_share_ids_with_the_top_up_form(owner_client, org, stripe_on):
    html = owner_client.get(reverse("dashboard:wallet")).content.decode()

    assert 'id="id_recharge_amount"' in html and '<label for="id_recharge_amount">' in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_a_refused_key_spend_limit_stays_on_its_row_with_the_error(owner_client, org):
    subscription, _ = make_key(org, name="ci")
    make_key(org, name="production")

    response = owner_client.post(
        reverse("dashboard:key_spend_limit"), {"subscription": subscription.id, "monthly_limit": "1.234"}
    )

    assert response.status_code == 400
    html = response.content.decode()
    row = _tag(html, "input", f"limit-{subscription.id}", "id")
    assert 'value="1.234"' in row and 'aria-invalid="true"' in row and "autofocus" in row
    assert f'aria-describedby="limit-help limit-{subscription.id}_error"' in row
    assert f'<ul class="errorlist" id="limit-{subscription.id}_error"><li>Ensure that there are no more than 2' in html
    assert html.split("<body>")[1].count('aria-invalid="true"') == 1  # the other key set's row is untouched
    assert "Key spend limit not saved: check Monthly limit ($) below." in html
    assert not KeySpendLimit.objects.exists()


def test_a_key_spend_limit_is_typed_as_money_like_the_other_amounts(owner_client, org):
    subscription, _ = make_key(org, name="ci")
    row = _tag(
        owner_client.get(reverse("dashboard:wallet")).content.decode(), "input", f"limit-{subscription.id}", "id"
    )
    assert 'type="text"' in row and 'inputmode="decimal"' in row  # a number box would drop "$" and ","

    owner_client.post(
        reverse("dashboard:key_spend_limit"), {"subscription": subscription.id, "monthly_limit": "$1,250.50"}
    )

    assert KeySpendLimit.objects.get(subscription=subscription).monthly_limit == 125050


def test_valid_settings_still_save_and_go_back_to_the_wallet(owner_client, org):
    response = owner_client.post(
        reverse("dashboard:billing_details"), {"billing_email": "ap@acme.test", "country": "fr"}, follow=True
    )
    assert response.redirect_chain == [(reverse("dashboard:wallet"), 302)]
    assert "Billing details saved" in response.content.decode()
    account = _account(org)
    assert (account.billing_email, account.country) == ("ap@acme.test", "FR")


def test_a_teammate_still_cannot_post_billing_forms(teammate_client, org):
    assert teammate_client.post(reverse("dashboard:billing_details"), {"country": "Germany"}).status_code == 403


# --- Plan switch -----------------------------------------------------------------------------


def _switch_form(html: str, plan_code: str) -> str:
    for form in re.findall(r"<form [^>]*>.*?</form>", html, flags=re.S):
        if f'action="{reverse("dashboard:plan_switch")}"' in form and f'value="{plan_code}"' in form:
            return form
    raise AssertionError(f"no switch form for {plan_code}")


def test_switching_down_to_the_free_trial_asks_first_and_names_the_lower_limits(owner_client, org):
    assert org.plan.code == "standard"
    html = owner_client.get(reverse("dashboard:wallet")).content.decode()

    form = _switch_form(html, "free")
    assert 'onsubmit="return confirm(' in form
    assert (
        f"Switch Acme Photos from {org.plan.name} to Free trial now? It takes effect immediately and lowers your "
        "limits: 10 requests a minute instead of 120, 2 jobs in flight instead of 20, 50 images a month instead "
        "of unlimited, 24 hours of file retention. Prices follow the Free trial plan."
    ) in form


def test_switching_up_from_the_free_trial_asks_without_talking_of_losses(owner_client, org):
    Organization.objects.filter(pk=org.pk).update(plan=Plan.objects.get(code="free"))
    html = owner_client.get(reverse("dashboard:wallet")).content.decode()

    form = _switch_form(html, "standard")
    standard = Plan.objects.get(code="standard").name
    assert f"to {standard} now? It takes effect immediately: 120 requests a minute, 20 jobs in flight" in form
    assert "lowers" not in form


def test_the_confirmation_text_is_escaped_for_the_script_it_sits_in(owner_client, org):
    Organization.objects.filter(pk=org.pk).update(name="O'Brien & <Sons>")
    html = owner_client.get(reverse("dashboard:wallet")).content.decode()

    form = _switch_form(html, "free")
    assert r"Switch O\u0027Brien \u0026 \u003CSons\u003E from" in form


def test_the_pro_plan_without_stripe_is_a_mailto_link_to_the_billing_contact(owner_client, org, settings):
    settings.BILLING_CONTACT_EMAIL = "sales@codeformer.test"
    html = owner_client.get(reverse("dashboard:wallet")).content.decode()

    assert (
        f'<a class="small plan-ask" href="mailto:sales@codeformer.test?subject=Pro%20plan%20for%20{org.slug}">'
        "Ask us by email</a>"
    ) in html
    assert '<span class="muted small">ask us</span>' not in html


@pytest.mark.parametrize(
    ("typed", "minor"),
    [("12.50", 1250), ("$1,000", 100000), ("-$5.00", -500), ("$-5", -500), (" 1,234.5 ", 123450), ("+3", 300)],
)
def test_money_is_read_as_people_type_it(typed, minor):
    from restoration.dashboard.forms import MoneyField

    assert MoneyField(min_value=None).clean(typed) == minor


@pytest.mark.parametrize(
    "typed", ["1e3", "NaN", "Infinity", "12,34", "5 dollars", "--5", "-$-5", "1,2345", "\u0665\u0660", "\uff150"]
)
def test_what_is_no_amount_is_refused_in_words(typed):
    from django.core.exceptions import ValidationError

    from restoration.dashboard.forms import MoneyField

    with pytest.raises(ValidationError, match=r"Enter an amount such as 12\.50"):
        MoneyField(min_value=None).clean(typed)
