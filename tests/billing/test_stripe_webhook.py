"""The Stripe webhook: signature, every event type, duplicates, late and reordered events.

Events are built and signed here with a test secret; nothing reaches Stripe."""

from __future__ import annotations

import io

import pytest
from django.test import Client

from billing.models import BillingAccount, LedgerEntry, Payment, StripeEvent, Wallet
from billing.payments.events import HANDLERS
from tests.billing.stripe_fakes import (
    charge,
    checkout_session,
    deliver,
    dispute,
    event,
    invoice,
    subscription,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def web():
    return Client()


def balance(org) -> int:
    return Wallet.objects.get(organization=org).balance


def entries(org, kind):
    return list(LedgerEntry.objects.filter(organization=org, kind=kind).values_list("amount", flat=True))


# --- signature and storage ------------------------------------------------------------------------


def test_a_bad_or_tampered_signature_is_400_and_stores_nothing(web, paying_org, stripe_on):
    payload = event("checkout.session.completed", checkout_session(paying_org))
    assert deliver(web, payload, secret="whsec_other").status_code == 400
    import json

    body = json.dumps(payload)
    from tests.billing.stripe_fakes import signature_for

    tampered = web.post(
        "/billing/stripe/webhook/",
        data=body.replace("2500", "999999"),
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature_for(body),
    )
    assert tampered.status_code == 400
    assert StripeEvent.objects.count() == 0 and balance(paying_org) == 1000


def test_without_a_webhook_secret_the_endpoint_answers_503(web, paying_org, settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    assert deliver(web, event("customer.created", {"id": "cus_x"})).status_code == 503


def test_every_event_is_stored_and_a_duplicate_is_applied_once(
    web, paying_org, stripe_on, mailoutbox, django_capture_on_commit_callbacks
):
    payload = event("checkout.session.completed", checkout_session(paying_org))
    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(web, payload)
        second = deliver(web, payload)
    assert first.status_code == second.status_code == 200
    stored = StripeEvent.objects.get(id=payload["id"])
    assert stored.deliveries == 2 and stored.processed_at is not None and stored.organization == paying_org
    assert entries(paying_org, "topup") == [2500, 1000]
    assert balance(paying_org) == 3500
    payment = Payment.objects.get(stripe_checkout_session_id="cs_1")
    assert (payment.status, payment.amount, payment.credit, payment.ledger_entry.amount) == (
        "succeeded",
        2500,
        2500,
        2500,
    )
    assert [m.subject for m in mailoutbox] == ["[CodeFormer Cloud] Payment received"]
    assert mailoutbox[0].to == ["owner@acme.test"]
    assert "We received your payment of $25.00; $25.00 was added to your wallet." in mailoutbox[0].body


def test_an_unhandled_event_type_is_stored_and_ignored(web, paying_org, stripe_on):
    payload = event("customer.created", {"id": "cus_1", "object": "customer"})
    assert deliver(web, payload).status_code == 200
    assert StripeEvent.objects.get(id=payload["id"]).outcome == "ignored"


def test_an_event_naming_no_known_organization_is_acknowledged_and_moves_no_money(web, paying_org, stripe_on):
    session = checkout_session(paying_org)
    session["metadata"] = {"organization_id": "00000000-0000-0000-0000-000000000000"}
    session["client_reference_id"] = None
    payload = event("checkout.session.completed", session)
    assert deliver(web, payload).status_code == 200
    assert StripeEvent.objects.get(id=payload["id"]).outcome.startswith("rejected")
    assert balance(paying_org) == 1000


def test_a_session_in_another_currency_is_rejected(web, paying_org, stripe_on):
    session = checkout_session(paying_org)
    session["currency"] = "eur"
    assert deliver(web, event("checkout.session.completed", session)).status_code == 200
    assert balance(paying_org) == 1000


# --- top-ups ------------------------------------------------------------------------------------


def test_an_unpaid_session_credits_only_when_the_async_payment_succeeds(web, paying_org, stripe_on):
    deliver(web, event("checkout.session.completed", checkout_session(paying_org, payment_status="unpaid")))
    assert balance(paying_org) == 1000
    assert Payment.objects.get(stripe_checkout_session_id="cs_1").status == "pending"
    deliver(web, event("checkout.session.async_payment_succeeded", checkout_session(paying_org)))
    assert balance(paying_org) == 3500


def test_async_success_then_a_late_paid_completed_credit_once(web, paying_org, stripe_on):
    deliver(web, event("checkout.session.async_payment_succeeded", checkout_session(paying_org)))
    deliver(web, event("checkout.session.completed", checkout_session(paying_org)))
    assert entries(paying_org, "topup") == [2500, 1000]


def test_an_async_failure_marks_the_payment_failed_and_tells_the_owners(
    web, paying_org, stripe_on, mailoutbox, django_capture_on_commit_callbacks
):
    deliver(web, event("checkout.session.completed", checkout_session(paying_org, payment_status="unpaid")))
    with django_capture_on_commit_callbacks(execute=True):
        deliver(
            web, event("checkout.session.async_payment_failed", checkout_session(paying_org, payment_status="unpaid"))
        )
    payment = Payment.objects.get(stripe_checkout_session_id="cs_1")
    assert payment.status == "failed"
    assert balance(paying_org) == 1000
    assert [m.subject for m in mailoutbox] == ["[CodeFormer Cloud] Payment failed"]
    assert "A top-up payment of $25.00 failed" in mailoutbox[0].body


def test_an_expired_session_is_recorded_and_credits_nothing(web, paying_org, stripe_on):
    deliver(web, event("checkout.session.expired", checkout_session(paying_org, payment_status="unpaid")))
    assert balance(paying_org) == 1000


def test_the_receipt_link_arrives_with_the_charge_even_before_the_payment(web, paying_org, stripe_on):
    deliver(web, event("charge.succeeded", charge(paying_org)))
    deliver(web, event("checkout.session.completed", checkout_session(paying_org)))
    payment = Payment.objects.get(stripe_checkout_session_id="cs_1")
    assert payment.receipt_url == "https://pay.stripe.com/r/1" and payment.stripe_charge_id == "ch_1"
    deliver(web, event("charge.succeeded", charge(paying_org, receipt="https://pay.stripe.com/r/2")))
    assert Payment.objects.get(id=payment.id).receipt_url == "https://pay.stripe.com/r/2"


def test_a_top_up_saves_the_card_for_auto_recharge(web, paying_org, stripe_on):
    intent = {
        "id": "pi_1",
        "object": "payment_intent",
        "payment_method": "pm_card",
        "customer": "cus_1",
        "metadata": {"organization_id": str(paying_org.id), "kind": "topup"},
        "amount": 2500,
    }
    deliver(web, event("payment_intent.succeeded", intent))
    account = BillingAccount.objects.get(organization=paying_org)
    assert (account.auto_recharge_payment_method, account.stripe_customer_id) == ("pm_card", "cus_1")
    assert balance(paying_org) == 1000  # the money comes with checkout.session.completed


# --- refunds and disputes -------------------------------------------------------------------------


def _paid(web, org):
    deliver(web, event("checkout.session.completed", checkout_session(org)))
    deliver(web, event("charge.succeeded", charge(org)))


def test_partial_refunds_debit_each_new_part_and_a_late_smaller_total_nothing(web, paying_org, stripe_on):
    _paid(web, paying_org)
    deliver(web, event("charge.refunded", charge(refunded=500)))
    deliver(web, event("charge.refunded", charge(refunded=1500)))
    deliver(web, event("charge.refunded", charge(refunded=500)))  # late, out of order
    assert entries(paying_org, "refund") == [-1000, -500]
    assert balance(paying_org) == 3500 - 1500
    assert Payment.objects.get(stripe_charge_id="ch_1").amount_refunded == 1500


def test_a_refund_below_zero_is_recorded_in_full_and_blocks_submissions(web, paying_org, stripe_on):
    from billing.errors import InsufficientBalance
    from jobs.services import job_submit
    from tests.jobs.conftest import PLAIN, image_input

    _paid(web, paying_org)
    LedgerEntry.objects.count()
    from billing.services import wallet_adjust

    wallet_adjust(organization=paying_org, amount=-3000, idempotency_key="spent", description="spent it")
    deliver(web, event("charge.refunded", charge(refunded=2500)))
    wallet = Wallet.objects.get(organization=paying_org)
    assert (wallet.balance, wallet.in_debt) == (500 - 2500, True)
    with pytest.raises(InsufficientBalance, match=r"Your balance is -\$20\.00 after a refund"):
        job_submit(organization=paying_org, params=PLAIN, images=[image_input()], source="gateway")


def test_a_refund_that_arrives_before_its_payment_uses_the_charge_metadata(web, paying_org, stripe_on):
    deliver(web, event("charge.refunded", charge(paying_org, refunded=2500)))
    deliver(web, event("checkout.session.completed", checkout_session(paying_org)))
    assert balance(paying_org) == 1000 - 2500 + 2500


def test_a_refund_of_an_unknown_charge_waits_503_and_applies_on_redelivery(web, paying_org, stripe_on):
    payload = event("charge.refunded", charge(refunded=2500))
    assert deliver(web, payload).status_code == 503
    assert StripeEvent.objects.get(id=payload["id"]).processed_at is None
    _paid(web, paying_org)
    assert deliver(web, payload).status_code == 200
    assert entries(paying_org, "refund") == [-2500]


def test_a_dispute_debits_and_a_won_dispute_credits_back_once(web, paying_org, stripe_on):
    _paid(web, paying_org)
    deliver(web, event("charge.dispute.created", dispute()))
    deliver(web, event("charge.dispute.funds_withdrawn", dispute()))
    deliver(web, event("charge.dispute.updated", dispute(status="under_review")))
    assert entries(paying_org, "dispute") == [-2500]
    assert balance(paying_org) == 1000
    deliver(web, event("charge.dispute.closed", dispute(status="won")))
    deliver(web, event("charge.dispute.funds_reinstated", dispute(status="won")))
    assert entries(paying_org, "dispute_won") == [2500]
    assert balance(paying_org) == 3500


def test_a_won_dispute_arriving_before_it_opened_nets_to_zero(web, paying_org, stripe_on):
    _paid(web, paying_org)
    deliver(web, event("charge.dispute.closed", dispute(status="won")))
    deliver(web, event("charge.dispute.created", dispute()))
    assert entries(paying_org, "dispute") == [-2500] and entries(paying_org, "dispute_won") == [2500]
    assert balance(paying_org) == 3500


def test_a_lost_dispute_keeps_the_debit(web, paying_org, stripe_on):
    _paid(web, paying_org)
    deliver(web, event("charge.dispute.closed", dispute(status="lost")))
    deliver(web, event("charge.dispute.created", dispute()))
    assert entries(paying_org, "dispute") == [-2500] and entries(paying_org, "dispute_won") == []


# --- subscriptions ------------------------------------------------------------------------------


def test_a_subscription_moves_the_organization_between_plans_ignoring_stale_events(
    web, paying_org, stripe_on, pro_plan
):
    deliver(
        web,
        event(
            "checkout.session.completed", checkout_session(paying_org, mode="subscription") | {"subscription": "sub_1"}
        ),
    )
    deliver(web, event("customer.subscription.created", subscription(paying_org), created=1_000))
    paying_org.refresh_from_db()
    assert paying_org.plan == pro_plan
    account = BillingAccount.objects.get(organization=paying_org)
    assert (account.stripe_subscription_id, account.subscription_status) == ("sub_1", "active")
    deliver(web, event("customer.subscription.deleted", subscription(paying_org, status="canceled"), created=3_000))
    paying_org.refresh_from_db()
    assert paying_org.plan.code == "standard"
    # A late "updated" from before the cancellation changes nothing.
    late = event("customer.subscription.updated", subscription(paying_org, status="active"), created=2_000)
    deliver(web, late)
    paying_org.refresh_from_db()
    assert paying_org.plan.code == "standard"
    assert StripeEvent.objects.get(id=late["id"]).outcome.startswith("stale")


def test_a_subscription_for_an_unknown_price_is_rejected(web, paying_org, stripe_on, pro_plan):
    deliver(web, event("customer.subscription.updated", subscription(paying_org, price="price_nope")))
    paying_org.refresh_from_db()
    assert paying_org.plan.code == "standard"


def test_a_paid_invoice_adds_the_plans_included_credit_once(web, paying_org, stripe_on, pro_plan):
    payload = event("invoice.paid", invoice(paying_org))
    deliver(web, payload)
    deliver(web, payload)
    deliver(web, event("invoice.paid", invoice(paying_org)))  # same invoice, another event id
    assert entries(paying_org, "plan_credit") == [pro_plan.included_credit]
    payment = Payment.objects.get(stripe_invoice_id="in_1")
    assert (payment.kind, payment.amount, payment.credit) == ("subscription", 4900, pro_plan.included_credit)
    assert payment.receipt_url == "https://invoice.stripe.com/i/in_1"


def test_an_invoice_of_an_unknown_customer_waits_for_redelivery(web, paying_org, stripe_on, pro_plan):
    payload = event("invoice.paid", invoice(None, customer="cus_unknown"))
    assert deliver(web, payload).status_code == 503
    BillingAccount.objects.create(organization=paying_org, stripe_customer_id="cus_unknown")
    assert deliver(web, payload).status_code == 200
    assert entries(paying_org, "plan_credit") == [pro_plan.included_credit]


def test_a_failed_invoice_tells_the_owners_and_a_late_failure_of_a_paid_one_changes_nothing(
    web, paying_org, stripe_on, pro_plan, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        deliver(web, event("invoice.payment_failed", invoice(paying_org, invoice_id="in_2")))
    assert Payment.objects.get(stripe_invoice_id="in_2").status == "failed"
    assert [m.subject for m in mailoutbox] == ["[CodeFormer Cloud] Payment failed"]
    deliver(web, event("invoice.paid", invoice(paying_org, invoice_id="in_3")))
    deliver(web, event("invoice.payment_failed", invoice(paying_org, invoice_id="in_3")))
    assert Payment.objects.get(stripe_invoice_id="in_3").status == "succeeded"


def test_every_handled_event_type_is_covered_by_these_tests():
    from pathlib import Path

    here = Path(__file__).parent
    source = (here / "test_stripe_webhook.py").read_text() + (here / "test_autorecharge.py").read_text()
    missing = [kind for kind in HANDLERS if f'"{kind}"' not in source]
    assert missing == []


def test_the_operator_command_applies_events_that_can_be_applied_now(web, paying_org, stripe_on):
    from django.core.management import call_command

    payload = event("charge.refunded", charge(refunded=1000))
    assert deliver(web, payload).status_code == 503
    out = io.StringIO()
    call_command("apply_stripe_events", stdout=out)
    assert "1 still waiting" in out.getvalue()
    _paid(web, paying_org)
    call_command("apply_stripe_events", stdout=io.StringIO())
    assert entries(paying_org, "refund") == [-1000]
    assert StripeEvent.objects.get(id=payload["id"]).processed_at is not None


def test_the_admin_lists_payments_and_events_read_only(paying_org, stripe_on, web):
    from tests.accounts.factories import UserFactory

    _paid(web, paying_org)
    admin_user = UserFactory(username="billing-admin", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(admin_user)
    assert "Paying Co" in browser.get("/admin/billing/payment/").content.decode()
    assert browser.get("/admin/billing/stripeevent/").status_code == 200
    assert browser.get("/admin/billing/payment/add/").status_code == 403
