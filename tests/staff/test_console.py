from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from accounts.keys import authenticate_key
from accounts.models import Organization
from billing.models import LedgerEntry, Wallet
from billing.services import hold_capture, hold_release, job_refund, wallet_adjust, wallet_topup
from config.errors import Forbidden
from jobs.models import Job
from tests.accounts.factories import make_key
from tests.dashboard.conftest import submit_job

pytestmark = pytest.mark.django_db

Kind = LedgerEntry.Kind
STAFF_PAGES = ["home", "billing", "billing_csv", "organizations", "models", "request_lookup"]


@pytest.mark.parametrize("name", STAFF_PAGES)
def test_the_staff_console_sends_visitors_to_the_login_page_and_customers_to_a_404(client, customer, acme, name):
    url = reverse(f"staff:{name}")
    response = client.get(url)  # anonymous: to the login page, which then shows its form
    assert response.status_code == 302 and response["Location"].startswith(reverse("dashboard:login"))
    assert client.get(response["Location"]).status_code == 200
    client.force_login(customer)
    # Signed in without staff rights: a plain 404, not a redirect back to the login page (which
    # sends a signed-in user on to ?next=, i.e. here again: the loop this replaced).
    response = client.get(url, follow=True)
    assert response.status_code == 404
    assert response.redirect_chain == []


def test_staff_actions_require_is_staff(client, customer, acme):
    client.force_login(customer)
    job = submit_job(acme)
    answers = [
        client.post(reverse("staff:organization_status", args=[acme.id]), {"status": "suspended", "reason": "r"}),
        client.post(
            reverse("staff:organization_detail", args=[acme.id]),
            {"amount": "1000.00", "reason": "free money", "token": str(uuid.uuid4())},
        ),
    ]
    assert [answer.status_code for answer in answers] == [404, 404]
    assert Organization.objects.get(pk=acme.pk).status == Organization.Status.ACTIVE
    assert Job.objects.get(pk=job.pk).moderated_at is None
    assert Wallet.objects.get(organization=acme).balance == 1000


@pytest.mark.parametrize("name", STAFF_PAGES)
def test_every_staff_page_renders(staff_client, acme, name):
    submit_job(acme)
    assert staff_client.get(reverse(f"staff:{name}")).status_code == 200


def _finish(job, status):
    """What the worker's finish does to the money: the state, then the capture or release."""
    Job.objects.filter(id=job.id).update(status=status, completed_at=timezone.now())
    if status == Job.Status.COMPLETED:
        hold_capture(job=job)
    else:
        hold_release(job=job, reason="failed")


def _ledger_activity(acme, globex, staff_user):
    """Real ledger rows of every kind, some of them last month."""
    captured, released, open_hold = submit_job(acme), submit_job(acme), submit_job(acme)
    _finish(captured, Job.Status.COMPLETED)
    _finish(released, Job.Status.FAILED)
    job_refund(job=captured, description="Refund for a removed result", created_by=staff_user)
    wallet_topup(organization=acme, amount=2500, idempotency_key="test:acme:topup")
    wallet_adjust(
        organization=globex, amount=-120, idempotency_key="test:globex:adj", description="refund", created_by=staff_user
    )
    _finish(submit_job(globex), Job.Status.COMPLETED)
    # Move Globex's opening top-up to last month (test set-up only: the app never edits ledger rows).
    last_month = timezone.now().replace(day=1) - timedelta(days=3)
    LedgerEntry.objects.filter(organization=globex, kind=Kind.TOPUP).update(created_at=last_month)
    return open_hold


def _ledger_sum(organization, kind, field="amount", month=None):
    entries = LedgerEntry.objects.filter(organization=organization, kind=kind)
    if month is not None:
        entries = entries.filter(created_at__year=month.year, created_at__month=month.month)
    return entries.aggregate(total=Sum(field))["total"] or 0


def test_billing_report_figures_equal_the_ledger_sums(staff_client, staff_user, acme, globex):
    _ledger_activity(acme, globex, staff_user)
    response = staff_client.get(reverse("staff:billing"))
    report = response.context["report"]
    now = timezone.now()
    rows = {(r.organization_name, r.month.month): r for r in report.rows}
    assert len(rows) == 3  # Acme this month, Globex this month and last month
    for organization in (acme, globex):
        wallet = Wallet.objects.get(organization=organization)
        mine = [r for r in report.rows if r.organization_id == str(organization.id)]
        assert sum(r.topups for r in mine) == _ledger_sum(organization, Kind.TOPUP)
        assert sum(r.revenue for r in mine) == -_ledger_sum(organization, Kind.CAPTURE)
        assert sum(r.released for r in mine) == -_ledger_sum(organization, Kind.RELEASE, "held_change")
        assert sum(r.adjustments + r.usage_refunds for r in mine) == _ledger_sum(organization, Kind.ADJUSTMENT)
        assert all((r.balance, r.held) == (wallet.balance, wallet.held) for r in mine)
    this_month = rows[("Acme Photos", now.month)]
    assert this_month.topups == 1000 + 2500
    assert this_month.revenue == _ledger_sum(acme, Kind.CAPTURE) * -1 > 0
    assert this_month.released > 0
    assert rows[("Globex", now.month)].topups == 0
    assert rows[("Globex", now.month)].adjustments == -120
    # A request's refund is usage refunded, not an adjustment: revenue net of it is what was earned.
    assert this_month.usage_refunds == -_ledger_sum(acme, Kind.CAPTURE) > 0
    assert this_month.adjustments == 0
    # Each row adds up to what it moved in the balance.
    for row in report.rows:
        moved = LedgerEntry.objects.filter(
            organization_id=row.organization_id, created_at__year=row.month.year, created_at__month=row.month.month
        ).aggregate(s=Sum("amount"))["s"]
        assert (
            row.topups + row.credits - row.revenue + row.usage_refunds + row.adjustments - row.card_refunds == moved
        ), row
    total = LedgerEntry.objects.aggregate(s=Sum("amount"))["s"]
    totals = report.totals
    assert (
        totals["topups"]
        + totals["credits"]
        - totals["revenue"]
        + totals["usage_refunds"]
        + totals["adjustments"]
        - totals["card_refunds"]
        == total
    )
    assert totals["balance"] == Wallet.objects.aggregate(s=Sum("balance"))["s"]
    assert totals["held"] == Wallet.objects.aggregate(s=Sum("held"))["s"] > 0


def test_billing_report_can_be_narrowed_to_one_month(staff_client, staff_user, acme, globex):
    _ledger_activity(acme, globex, staff_user)
    month = timezone.now().date().replace(day=1)
    report = staff_client.get(reverse("staff:billing"), {"month": f"{month:%Y-%m}"}).context["report"]
    assert {r.month for r in report.rows} == {month}
    assert report.totals["topups"] == _ledger_sum(acme, Kind.TOPUP, month=month) + _ledger_sum(
        globex, Kind.TOPUP, month=month
    )


def test_billing_csv_export_matches_the_report(staff_client, staff_user, acme, globex):
    _ledger_activity(acme, globex, staff_user)
    report = staff_client.get(reverse("staff:billing")).context["report"]
    response = staff_client.get(reverse("staff:billing_csv"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    body, total = lines[:-1], lines[-1]
    assert len(body) == len(report.rows) == 3
    for line, row in zip(body, report.rows, strict=True):
        assert line["organization_id"] == row.organization_id
        assert int(line["revenue_minor"]) == row.revenue and int(line["topups_minor"]) == row.topups
        assert int(line["balance_minor"]) == row.balance and line["currency"] == "USD"
    assert total["month"] == "total" and total["currency"] == "USD"
    assert (
        int(total["revenue_minor"]) == -(LedgerEntry.objects.filter(kind=Kind.CAPTURE).aggregate(s=Sum("amount"))["s"])
    )


def test_the_owners_are_told_by_e_mail_when_their_organization_is_suspended_and_reactivated(
    staff_client, acme, mailoutbox, django_capture_on_commit_callbacks, settings
):
    owner_email = acme.memberships.get(role="owner").user.email
    url = reverse("staff:organization_status", args=[acme.id])
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url, {"status": "suspended", "reason": "Chargeback fraud (internal)"})
    [notice] = mailoutbox
    assert notice.to == [owner_email] and notice.subject == f"[CodeFormer Cloud] {acme.name} is suspended"
    assert "API keys answer 403" in notice.body and settings.SUPPORT_CONTACT_EMAIL in notice.body
    assert "Chargeback" not in notice.body  # the reason is staff's own
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url, {"status": "suspended", "reason": "again"})  # no change: no second mail
        staff_client.post(url, {"status": "active", "reason": "Cleared"})
    assert [m.subject for m in mailoutbox][1:] == [f"[CodeFormer Cloud] {acme.name} is active again"]


def test_suspending_an_organization_makes_its_keys_answer_403_and_reactivating_restores_them(staff_client, acme):
    _, key = make_key(acme)
    url = reverse("staff:organization_status", args=[acme.id])
    # Without a reason nothing changes: the console asks for one and the audit trail keeps it.
    refused = staff_client.post(url, {"status": "suspended"}, follow=True)
    assert "Say why: suspending or reactivating an organization records a reason." in refused.content.decode()
    assert Organization.objects.get(pk=acme.pk).status == Organization.Status.ACTIVE
    staff_client.post(url, {"status": "suspended", "reason": "Chargeback fraud"})
    assert Organization.objects.get(pk=acme.pk).status == Organization.Status.SUSPENDED
    with pytest.raises(Forbidden):
        authenticate_key(key)
    staff_client.post(url, {"status": "active", "reason": "Cleared by the bank"})
    assert authenticate_key(key).organization_id == acme.id
    trail = staff_client.get(reverse("moderation:audit")).content.decode()
    assert "why: Chargeback fraud" in trail and "why: Cleared by the bank" in trail


def test_a_wallet_adjustment_needs_a_reason_and_is_applied_once(staff_client, staff_user, acme):
    url = reverse("staff:organization_detail", args=[acme.id])
    token = str(uuid.uuid4())
    refused = staff_client.post(url, {"amount": "7.00", "reason": "  ", "token": token})
    assert refused.status_code == 400
    assert Wallet.objects.get(organization=acme).balance == 1000
    for _ in range(2):  # a double submit of the same form
        staff_client.post(url, {"amount": "7.00", "reason": "Goodwill credit", "token": token})
    entry = LedgerEntry.objects.get(organization=acme, kind=Kind.ADJUSTMENT)
    assert (entry.amount, entry.description, entry.created_by) == (700, "Goodwill credit", staff_user)
    assert Wallet.objects.get(organization=acme).balance == 1700


def test_an_adjustment_cannot_take_held_money(staff_client, acme):
    submit_job(acme)
    response = staff_client.post(
        reverse("staff:organization_detail", args=[acme.id]),
        {"amount": "-10.00", "reason": "oops", "token": str(uuid.uuid4())},
    )
    assert response.status_code == 402
    assert not LedgerEntry.objects.filter(organization=acme, kind=Kind.ADJUSTMENT).exists()


def test_the_models_page_lists_each_model_with_its_licence_and_whether_it_is_enabled(staff_client, settings):
    settings.ENABLED_MODELS = ["codeformer", "gfpgan"]
    response = staff_client.get(reverse("staff:models"))
    rows = {row["spec"].name: row for row in response.context["rows"]}
    assert rows["codeformer"]["enabled"] and rows["gfpgan"]["enabled"] and not rows["restoreformer"]["enabled"]
    body = response.content.decode()
    assert "S-Lab License 1.0" in body and "non-commercial" in body and "Apache-2.0" in body


def test_the_overview_shows_recent_errors_with_the_operator_detail(staff_client, acme, settings):
    from jobs.engine import reset_engine
    from jobs.services import job_run
    from ml.errors import WeightsError
    from tests.jobs.engines import FakeEngine

    settings.RESTORATION_ENGINE = "tests.jobs.engines.FakeEngine"
    reset_engine()
    FakeEngine.reset()
    FakeEngine.fail_with = WeightsError("/srv/weights/codeformer.pth is missing: run `python manage.py fetch_weights`")
    try:
        job = job_run(job_id=submit_job(acme).id)
    finally:
        FakeEngine.reset()
        reset_engine()

    html = staff_client.get(reverse("staff:home")).content.decode()

    assert job.status == Job.Status.ERROR
    assert "fetch_weights" not in job.error  # the customer's words
    assert "WeightsError: /srv/weights/codeformer.pth is missing" in html  # the operator's
    assert job.error in html


def test_the_overview_warns_on_call_staff_when_enabled_models_lack_their_weights(staff_client, settings, tmp_path):
    from jobs.engine import PIPELINE_FACTORY

    settings.RESTORATION_ENGINE = PIPELINE_FACTORY
    settings.ENABLED_MODELS = ["codeformer"]
    settings.WEIGHTS_DIR = str(tmp_path)  # nothing installed

    html = staff_client.get(reverse("staff:home")).content.decode()

    assert "Restorations cannot run" in html and "codeformer" in html
    assert reverse("staff:models") in html

    settings.RESTORATION_ENGINE = "tests.jobs.engines.FakeEngine"  # brings its own model
    assert "Restorations cannot run" not in staff_client.get(reverse("staff:home")).content.decode()


@pytest.mark.parametrize(("payments", "flagged"), [(False, False), (True, True)])
def test_the_models_page_asks_for_a_commercial_licence_only_where_one_is_needed(
    staff_client, settings, payments, flagged
):
    settings.ENABLED_MODELS = ["codeformer"]
    settings.COMMERCIAL_LICENCE_GRANTED = []
    settings.STRIPE_SECRET_KEY = "sk_test_configured" if payments else ""  # what payments_configured reads

    response = staff_client.get(reverse("staff:models"))

    (row,) = [row for row in response.context["rows"] if row["spec"].name == "codeformer"]
    assert row["licence"].sellable is not flagged
    assert ("needs a commercial licence" in response.content.decode()) is flagged


def test_a_staff_adjustment_is_typed_in_dollars_and_its_labels_point_at_their_own_fields(staff_client, acme):
    url = reverse("staff:organization_detail", args=[acme.id])
    page = staff_client.get(url).content.decode()
    assert "Amount ($)" in page and "minor units" not in page
    ids = re.findall(r'\bid="(id_[a-z_]+)"', page)
    assert len(ids) == len(set(ids))  # the plan form's reason no longer shares the adjustment's id
    for target in re.findall(r'<label for="(id_[a-z_]+)"', page):
        assert target in ids

    staff_client.post(url, {"amount": "-2.50", "reason": "Refund of a test", "token": str(uuid.uuid4())})
    assert LedgerEntry.objects.get(organization=acme, kind=Kind.ADJUSTMENT).amount == -250


def test_the_organization_page_lists_its_key_sets_moderation_items_and_links_ledger_rows(staff_client, acme):
    from accounts.services import subscription_revoke
    from moderation.models import ModerationItem

    live, _ = make_key(acme, name="production")
    gone, _ = make_key(acme, name="old-laptop")
    subscription_revoke(subscription=gone, by_moderation=True)
    job = submit_job(acme)
    item = ModerationItem.objects.create(
        origin=ModerationItem.Origin.STAFF, organization=acme, job=job, reason="Looks like a stolen portrait"
    )
    page = staff_client.get(reverse("staff:organization_detail", args=[acme.id])).content.decode()
    assert "production" in page and f"cf_{live.keys.first().prefix}_" in page
    assert "old-laptop" in page and "by trust and safety" in page
    assert reverse("moderation:item", args=[item.id]) in page and "stolen portrait" in page
    assert page.count(reverse("staff:request_detail", args=[job.id])) >= 2  # its row and its hold in the ledger
