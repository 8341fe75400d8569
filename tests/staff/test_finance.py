"""The finance report: per day and per organization, adding up to the ledger, with charts,
a CSV whose rows sum to its total row, liability, top organizations and margin per image."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerEntry, Payment
from billing.services import hold_capture, hold_release, wallet_debit_external, wallet_topup
from jobs.models import Job
from tests.dashboard.conftest import submit_job

pytestmark = pytest.mark.django_db


def _complete(job, seconds=2.5, size=(200, 100)):
    now = timezone.now()
    Job.objects.filter(id=job.id).update(
        status=Job.Status.COMPLETED,
        started_at=now - timedelta(seconds=seconds),
        completed_at=now,
        output_width=size[0],
        output_height=size[1],
    )
    hold_capture(job=job)


@pytest.fixture
def activity(acme, globex):
    for _ in range(3):
        _complete(submit_job(acme))
    failed = submit_job(acme)
    Job.objects.filter(id=failed.id).update(status=Job.Status.FAILED, completed_at=timezone.now())
    hold_release(job=failed, reason="failed")
    _complete(submit_job(globex), seconds=4)
    entry = wallet_topup(organization=acme, amount=2500, idempotency_key="stripe:checkout:cs_f")
    Payment.objects.create(
        organization=acme,
        kind="topup",
        status="succeeded",
        amount=2500,
        credit=2500,
        ledger_entry=entry,
        paid_at=timezone.now(),
    )
    Payment.objects.create(organization=globex, kind="auto_recharge", status="failed", amount=700)
    wallet_debit_external(
        organization=acme, amount=300, idempotency_key="stripe:refund:ch_f:300", kind="refund", description="r"
    )
    wallet_topup(organization=globex, amount=400, idempotency_key="trial:globex", kind="trial", description="Trial")
    # Last month's top-up is outside the default 30-day period only if older than 30 days.
    old = wallet_topup(organization=globex, amount=999, idempotency_key="old:globex")
    LedgerEntry.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(days=45))


def test_the_totals_equal_the_ledger_sums_for_the_period(staff_client, activity, acme):
    response = staff_client.get(reverse("staff:finance"))
    assert response.status_code == 200
    report = response.context["report"]
    since = timezone.now() - timedelta(days=30)
    ledger = LedgerEntry.objects.filter(created_at__gte=since)

    def kind_sum(kind):
        return ledger.filter(kind=kind).aggregate(s=Sum("amount"))["s"] or 0

    totals = report.totals
    assert totals["usage_revenue"] == -kind_sum("capture") == 4 * 10
    assert totals["refunds"] == 300 and totals["trial_credit"] == 400
    assert totals["topups"] == kind_sum("topup")  # the 45-day-old one is outside
    assert totals["ledger_amount"] == ledger.aggregate(s=Sum("amount"))["s"]
    assert totals["cash_in"] == 2500 and totals["failed_payments"] == 700
    assert (totals["images"], totals["megapixels"], totals["gpu_seconds"]) == (4, 0.08, 11.5)
    # Per day and per organization both add up to the same totals.
    for column in ("usage_revenue", "topups", "refunds", "ledger_amount"):
        assert sum(r.money[column] for r in report.organizations) == totals[column]
        assert sum(r.money[column] for r in report.days) == totals[column]
    assert report.top_organizations[0].key == str(acme.id)
    assert report.liability_now == sum(
        w for w in LedgerEntry.objects.values("wallet_id").annotate(b=Sum("amount")).values_list("b", flat=True)
    )
    page = response.content.decode()
    assert page.count("<svg") == 2 and "<script" not in page.split("<main", 1)[-1].split("</main>")[0]


def test_the_csv_rows_add_up_to_its_total_row_and_to_the_ledger(staff_client, activity):
    response = staff_client.get(reverse("staff:finance_csv"))
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    body, total = rows[:-1], rows[-1]
    assert total["day"] == "total" and {r["currency"] for r in rows} == {"USD"}
    for column in (
        "topups_minor",
        "usage_revenue_minor",
        "card_refunds_minor",
        "trial_credit_minor",
        "ledger_amount_minor",
    ):
        assert sum(int(r[column]) for r in body) == int(total[column])
    assert sum(int(r["images"]) for r in body) == int(total["images"])
    since = timezone.now() - timedelta(days=30)
    assert (
        int(total["ledger_amount_minor"])
        == LedgerEntry.objects.filter(created_at__gte=since).aggregate(s=Sum("amount"))["s"]
    )


def test_the_csv_day_rows_carry_their_payments_and_follow_the_organization_filter(staff_client, activity, acme):
    rows = list(csv.DictReader(io.StringIO(staff_client.get(reverse("staff:finance_csv")).content.decode())))
    body, total = rows[:-1], rows[-1]
    for column in ("cash_in_minor", "failed_payments_minor"):
        assert all(r[column] != "" for r in body)
        assert sum(int(r[column]) for r in body) == int(total[column])
    assert int(total["cash_in_minor"]) == 2500 and int(total["failed_payments_minor"]) == 700
    narrowed = staff_client.get(reverse("staff:finance_csv"), {"organization": str(acme.id)}).content.decode()
    rows = list(csv.DictReader(io.StringIO(narrowed)))
    body, total = rows[:-1], rows[-1]
    assert body and {r["organization_id"] for r in body} == {str(acme.id)}
    for column in ("topups_minor", "usage_revenue_minor", "ledger_amount_minor", "cash_in_minor", "images"):
        assert sum(float(r[column]) for r in body) == float(total[column])


def test_a_chosen_period_and_organization_narrow_the_report(staff_client, activity, globex):
    old_day = (timezone.now() - timedelta(days=45)).date()
    report = staff_client.get(
        reverse("staff:finance"), {"start": old_day.isoformat(), "end": old_day.isoformat()}
    ).context["report"]
    assert report.totals["topups"] == 999 and len(report.days) == 1
    report = staff_client.get(reverse("staff:finance"), {"organization": str(globex.id)}).context["report"]
    assert report.totals["images"] == 1 and report.totals["trial_credit"] == 400 and report.totals["refunds"] == 0


def test_margin_per_image_needs_a_gpu_cost(staff_client, activity, settings):
    assert staff_client.get(reverse("staff:finance")).context["report"].margin_per_image is None
    settings.GPU_COST_PER_SECOND = 2.0
    report = staff_client.get(reverse("staff:finance")).context["report"]
    assert report.margin_per_image == pytest.approx((40 - 11.5 * 2.0) / 4)


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ({"start": "yesterday"}, "Dates are YYYY-MM-DD"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "The start comes after the end"),
        ({"start": "2020-01-01", "end": "2026-01-01"}, "at most a year"),
        ({"organization": "garbage"}, "No organization has that id"),
        ({"organization": "00000000-0000-0000-0000-000000000000"}, "No organization has that id"),
    ],
)
def test_a_bad_filter_says_what_is_wrong_and_shows_the_default_report(staff_client, query, says):
    response = staff_client.get(reverse("staff:finance"), query)
    assert response.status_code == 200
    assert says in response.content.decode()
    report = response.context["report"]
    assert (report.end - report.start).days == 29 and response.context["organization"] is None
    # The export refuses the same filters in words instead of exporting something else.
    refused = staff_client.get(reverse("staff:finance_csv"), query)
    assert refused.status_code == 400 and says in refused.content.decode()


def test_a_month_that_is_no_month_shows_all_months_and_says_so(staff_client):
    response = staff_client.get(reverse("staff:billing"), {"month": "2026-13"})
    assert response.status_code == 200 and response.context["month"] is None
    assert "is not a month: use YYYY-MM" in response.content.decode()
    assert staff_client.get(reverse("staff:billing_csv"), {"month": "2026-13"}).status_code == 400


def test_non_staff_cannot_see_it(client, customer):
    client.force_login(customer)
    assert client.get(reverse("staff:finance")).status_code in (302, 403, 404)


def test_a_refund_for_a_request_is_usage_refunded_not_an_adjustment(staff_client, acme, staff_user):
    from billing.services import job_refund, wallet_adjust

    job = submit_job(acme)
    _complete(job)
    job_refund(job=job, description="Refund for a removed result", created_by=staff_user)
    wallet_adjust(
        organization=acme, amount=50, idempotency_key="goodwill", description="Goodwill", created_by=staff_user
    )

    response = staff_client.get(reverse("staff:finance"))
    report = response.context["report"]
    assert report.totals["usage_revenue"] == job.price
    assert report.totals["usage_refunds"] == job.price
    assert report.net_usage_revenue == 0
    assert report.totals["adjustments"] == 50
    page = response.content.decode()
    assert "refunded for requests" in page


def test_the_customer_and_staff_read_a_request_refund_as_such(staff_client, customer, acme, staff_user):
    from django.test import Client

    from billing.services import job_refund

    job = submit_job(acme)
    _complete(job)
    job_refund(job=job, description="Refund for a removed result", created_by=staff_user)
    owner = Client()
    owner.force_login(customer)
    wallet = owner.get(reverse("dashboard:wallet"))
    assert wallet.status_code == 200
    assert '<span class="badge">Request refund</span>' in wallet.content.decode()
    staff_page = staff_client.get(reverse("staff:organization_detail", args=[acme.id])).content.decode()
    assert '<span class="badge">Request refund</span>' in staff_page


def test_the_per_day_table_lists_only_days_with_activity(staff_client, activity):
    response = staff_client.get(reverse("staff:finance"))
    report = response.context["report"]
    active = {day.key for day in report.active_days}
    assert active == {timezone.now().date().isoformat()}  # the fixture's activity is all today
    idle = [day for day in report.days if day.key not in active]
    assert idle and all(not any(day.money.values()) and not day.usage["images"] for day in idle)
    table = response.content.decode().split("<h2>Per day</h2>", 1)[1]
    assert table.count('<tr><td class="nowrap">') == 1


def test_the_per_day_table_shows_usage_refunds_beside_captures(staff_client, activity, acme):
    from billing.services import job_refund

    job = Job.objects.filter(organization=acme, status=Job.Status.COMPLETED).first()
    job_refund(job=job, description="refund")
    page = staff_client.get(reverse("staff:finance")).content.decode()
    per_day = page.split("<h2>Per day</h2>", 1)[1]
    assert '<th class="num">Usage refunded</th>' in per_day and '<th class="num">Card refunds</th>' in per_day
    assert "Usage captured" in page and "Usage revenue</th>" not in page  # the headline alone is net
