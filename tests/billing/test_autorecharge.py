"""Auto-recharge: an off-session charge of the saved card when a hold takes the available
balance under the threshold; one at a time, within the monthly cap, off after 3 failures."""

from __future__ import annotations

import pytest
from django.test import Client

from billing.models import BillingAccount, LedgerEntry, Payment, Wallet
from billing.payments.autorecharge import auto_recharge_run
from jobs.services import job_submit
from tests.billing.stripe_fakes import deliver, event
from tests.jobs.conftest import PLAIN, image_input

pytestmark = pytest.mark.django_db


def declined(intent_id: str = "pi_declined") -> dict:
    return {
        "error": {
            "type": "card_error",
            "code": "card_declined",
            "message": "Your card was declined.",
            "payment_intent": {"id": intent_id, "object": "payment_intent", "status": "requires_payment_method"},
        }
    }


def intent(org, *, intent_id="pi_ar_1", amount=2000, status="succeeded", payment_id=""):
    return {
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": amount if status == "succeeded" else 0,
        "currency": "usd",
        "status": status,
        "metadata": {"organization_id": str(org.id), "kind": "auto_recharge", "payment_id": payment_id},
    }


@pytest.fixture
def recharging(paying_org):
    BillingAccount.objects.create(
        organization=paying_org,
        stripe_customer_id="cus_1",
        auto_recharge_enabled=True,
        auto_recharge_threshold=995,
        auto_recharge_amount=2000,
        auto_recharge_monthly_cap=5000,
        auto_recharge_payment_method="pm_card",
    )
    return paying_org


def submit(org):
    return job_submit(organization=org, params=PLAIN, images=[image_input()], source="gateway")


def test_a_hold_under_the_threshold_sends_the_billing_check_after_commit(
    recharging, stripe_on, monkeypatch, django_capture_on_commit_callbacks
):
    from billing import actors

    sent = []
    monkeypatch.setattr(actors.billing_after_spend, "send", lambda org_id: sent.append(org_id))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit(recharging)
    assert sent == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert sent == [str(recharging.id)]


def test_it_charges_the_saved_card_off_session_and_credits_once(web_client, recharging, stripe_on, fake_stripe):
    submit(recharging)  # available 1000 - 10 = 990 < 995
    fake_stripe.answer("post", "/v1/payment_intents", intent(recharging))
    payment = auto_recharge_run(organization_id=recharging.id)
    [form] = fake_stripe.calls_to("/v1/payment_intents")
    assert form["off_session"] == ["true"] and form["confirm"] == ["true"]
    assert form["payment_method"] == ["pm_card"] and form["customer"] == ["cus_1"] and form["amount"] == ["2000"]
    assert payment.status == "succeeded" and payment.credit == 2000
    assert Wallet.objects.get(organization=recharging).balance == 3000
    account = BillingAccount.objects.get(organization=recharging)
    assert account.auto_recharge_pending_since is None and account.auto_recharge_failures == 0
    # Stripe's webhook for the same intent credits nothing more.
    deliver(web_client, event("payment_intent.succeeded", intent(recharging, payment_id=str(payment.id))))
    assert list(LedgerEntry.objects.filter(organization=recharging, kind="topup").values_list("amount", flat=True)) == [
        2000,
        1000,
    ]


def test_nothing_is_charged_while_the_balance_is_over_the_threshold(recharging, stripe_on, fake_stripe):
    assert auto_recharge_run(organization_id=recharging.id) is None
    assert fake_stripe.calls == []


def test_only_one_charge_runs_at_a_time(recharging, stripe_on, fake_stripe):
    from django.utils import timezone

    submit(recharging)
    BillingAccount.objects.filter(organization=recharging).update(auto_recharge_pending_since=timezone.now())
    assert auto_recharge_run(organization_id=recharging.id) is None
    assert fake_stripe.calls == []


def test_the_monthly_cap_stops_charges_and_says_so_once(
    recharging, stripe_on, fake_stripe, mailoutbox, django_capture_on_commit_callbacks
):
    submit(recharging)
    Payment.objects.create(organization=recharging, kind="auto_recharge", status="succeeded", amount=4000)
    with django_capture_on_commit_callbacks(execute=True):
        assert auto_recharge_run(organization_id=recharging.id) is None  # 4000 + 2000 > 5000
        assert auto_recharge_run(organization_id=recharging.id) is None
    assert fake_stripe.calls == []
    assert [m.subject for m in mailoutbox] == ["[CodeFormer Cloud] Auto-recharge cap reached"]
    assert "this month's cap of $50.00 is reached" in mailoutbox[0].body
    assert BillingAccount.objects.get(organization=recharging).auto_recharge_pending_since is None


def test_exactly_at_the_cap_it_still_charges(recharging, stripe_on, fake_stripe):
    submit(recharging)
    Payment.objects.create(organization=recharging, kind="auto_recharge", status="succeeded", amount=3000)
    fake_stripe.answer("post", "/v1/payment_intents", intent(recharging))
    assert auto_recharge_run(organization_id=recharging.id).status == "succeeded"


def test_a_declined_card_notifies_and_three_in_a_row_switch_it_off(
    web_client, recharging, stripe_on, fake_stripe, mailoutbox, django_capture_on_commit_callbacks
):
    submit(recharging)
    for n in (1, 2, 3, 4):
        fake_stripe.answer("post", "/v1/payment_intents", declined(f"pi_declined_{n}"), status=402)
    with django_capture_on_commit_callbacks(execute=True):
        first = auto_recharge_run(organization_id=recharging.id)
        # Stripe's webhook about the same declined intent counts nothing more.
        deliver(
            web_client,
            event(
                "payment_intent.payment_failed",
                intent(recharging, intent_id="pi_declined_1", status="requires_payment_method"),
            ),
        )
        assert BillingAccount.objects.get(organization=recharging).auto_recharge_failures == 1
        auto_recharge_run(organization_id=recharging.id)
        auto_recharge_run(organization_id=recharging.id)
    assert first.status == "failed" and "declined" in first.failure_message
    account = BillingAccount.objects.get(organization=recharging)
    assert (account.auto_recharge_failures, account.auto_recharge_enabled) == (3, False)
    subjects = [m.subject for m in mailoutbox]
    assert subjects.count("[CodeFormer Cloud] Payment failed") == 3
    assert subjects.count("[CodeFormer Cloud] Auto-recharge switched off") == 1
    assert auto_recharge_run(organization_id=recharging.id) is None
    assert Wallet.objects.get(organization=recharging).balance == 1000


def test_a_success_resets_the_failure_count(recharging, stripe_on, fake_stripe):
    submit(recharging)
    BillingAccount.objects.filter(organization=recharging).update(auto_recharge_failures=2)
    fake_stripe.answer("post", "/v1/payment_intents", intent(recharging))
    auto_recharge_run(organization_id=recharging.id)
    assert BillingAccount.objects.get(organization=recharging).auto_recharge_failures == 0


def test_a_processing_intent_is_finished_by_its_webhook(web_client, recharging, stripe_on, fake_stripe):
    submit(recharging)
    fake_stripe.answer("post", "/v1/payment_intents", intent(recharging, status="processing"))
    payment = auto_recharge_run(organization_id=recharging.id)
    assert payment.status == "pending"
    assert BillingAccount.objects.get(organization=recharging).auto_recharge_pending_since is not None
    # Even once the claim has gone stale, no second charge starts while this one is processing.
    BillingAccount.objects.filter(organization=recharging).update(auto_recharge_pending_since=None)
    assert auto_recharge_run(organization_id=recharging.id) is None
    assert len(fake_stripe.calls_to("/v1/payment_intents")) == 1
    deliver(web_client, event("payment_intent.succeeded", intent(recharging, payment_id=str(payment.id))))
    assert Payment.objects.get(id=payment.id).status == "succeeded"
    assert Wallet.objects.get(organization=recharging).balance == 3000
    assert BillingAccount.objects.get(organization=recharging).auto_recharge_pending_since is None


def test_without_stripe_keys_auto_recharge_does_nothing(recharging, settings, fake_stripe):
    settings.STRIPE_SECRET_KEY = ""
    submit(recharging)
    assert auto_recharge_run(organization_id=recharging.id) is None


@pytest.fixture
def web_client():
    return Client()
