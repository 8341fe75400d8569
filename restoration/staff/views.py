"""The staff console: billing report, organizations, wallet adjustments, models. Trust and safety
(the moderation queue, blocklist, audit trail) lives in ``moderation.views``.

Every page is ``moderation.access.staff_view``: the login page for a visitor, 404 for a
signed-in account without staff rights, a second factor where required; changing money, a plan
or an organization's status needs the admin role."""

from __future__ import annotations

import csv
import uuid
from datetime import date, timedelta

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone

from accounts.models import Organization
from accounts.services import organization_set_status
from billing.models import Wallet
from billing.money import format_money
from billing.plans import plan_change
from billing.selectors import (
    billing_account_for,
    ledger_for,
    one_currency,
    payments_for,
    wallet_currencies,
    with_job_charges,
)
from billing.services import wallet_adjust
from config.errors import ApplicationError
from jobs.engine import missing_weights
from jobs.models import Job
from jobs.selectors import queue_depth, worker_status
from lib.http import require_POST
from ml.weights import MANIFEST, MODELS, missing_checkpoints, weights_status
from moderation.access import is_staff_admin, staff_view
from moderation.models import ModerationItem
from restoration.licensing import deployment_is_commercial, licence_state, payments_configured
from restoration.staff import finance, lookup, reports
from restoration.staff.charts import bar_chart
from restoration.staff.forms import PlanChangeForm, WalletAdjustForm


@staff_view
def home(request: HttpRequest) -> HttpResponse:
    report = reports.billing_report(month=timezone.now().date().replace(day=1))
    context = {
        "organizations": Organization.objects.count(),
        "suspended": Organization.objects.filter(status=Organization.Status.SUSPENDED).count(),
        "queue_depth": queue_depth(),
        "open_items": ModerationItem.objects.filter(status=ModerationItem.Status.OPEN).count(),
        "processing": Job.objects.filter(status=Job.Status.PROCESSING).count(),
        "worker": worker_status(),
        "month_totals": report.totals,
        "failures": reports.recent_failures(),
        # The same check the customers' banner and the playground make: on call, this is the
        # first thing to see when restorations cannot run.
        "missing_weights": missing_weights(),
    }
    return render(request, "staff/home.html", context)


def _month_param(request: HttpRequest) -> tuple[date | None, str]:
    """``?month=YYYY-MM`` and, for a value that is no month, what to tell the reader (the
    report then covers all months)."""
    value = request.GET.get("month", "")
    if not value:
        return None, ""
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1), ""
    except ValueError:
        return None, f"“{value[:20]}” is not a month: use YYYY-MM, as 2026-12. Showing all months."


@staff_view
def billing(request: HttpRequest) -> HttpResponse:
    month, error = _month_param(request)
    report = reports.billing_report(month=month)
    return render(request, "staff/billing.html", {"report": report, "month": month, "error": error})


@staff_view
def billing_csv(request: HttpRequest) -> HttpResponse:
    month, error = _month_param(request)
    if error:
        return HttpResponseBadRequest(error, content_type="text/plain; charset=utf-8")
    report = reports.billing_report(month=month)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"billing-{month:%Y-%m}.csv" if month else "billing.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    # Money in minor units (cents) of the row's currency, as the ledger keeps it.
    money_columns = [f"{column}_minor" for column in (*reports.MONEY_COLUMNS, "balance", "held")]
    writer.writerow(["month", "organization_id", "organization", "slug", "currency", *money_columns])
    currencies = wallet_currencies()
    for row in report.rows:
        writer.writerow(
            [f"{row.month:%Y-%m}", row.organization_id, row.organization_name, row.organization_slug]
            + [currencies.get(str(row.organization_id), "USD")]
            + [getattr(row, column) for column in reports.MONEY_COLUMNS]
            + [row.balance, row.held]
        )
    totals = report.totals
    currency = one_currency(currencies.get(str(row.organization_id), "USD") for row in report.rows)
    writer.writerow(
        ["total", "", "", "", currency]
        + [totals[c] for c in reports.MONEY_COLUMNS]
        + [totals["balance"], totals["held"]]
    )
    return response


def _period(request: HttpRequest) -> tuple[date, date, str]:
    """``?start=YYYY-MM-DD&end=YYYY-MM-DD`` (inclusive); the last 30 days by default, and by
    default too when the dates given are not a period, with what to tell the reader."""
    today = timezone.now().date()
    default = (today - timedelta(days=29), today)
    try:
        end = date.fromisoformat(request.GET["end"]) if request.GET.get("end") else today
        start = date.fromisoformat(request.GET["start"]) if request.GET.get("start") else end - timedelta(days=29)
    except ValueError:
        return *default, "Dates are YYYY-MM-DD, as 2026-12-01. Showing the last 30 days."
    if start > end:
        return *default, "The start comes after the end. Showing the last 30 days."
    if (end - start).days > 366:
        return *default, "Choose a period of at most a year. Showing the last 30 days."
    return start, end, ""


def _finance(request: HttpRequest):
    """The report for the page's filters: (report, organization or None, what to tell the reader)."""
    start, end, error = _period(request)
    organization = None
    value = request.GET.get("organization", "").strip()
    if value:
        try:
            organization = Organization.objects.filter(id=uuid.UUID(value)).first()
        except ValueError:
            organization = None
        if organization is None:
            error = " ".join(filter(None, [error, "No organization has that id: showing all organizations."]))
    return finance.finance_report(start=start, end=end, organization=organization), organization, error


@staff_view
def finance_view(request: HttpRequest) -> HttpResponse:
    report, organization, error = _finance(request)
    labels = [row.key for row in report.days]
    context = {
        "report": report,
        "organization": organization,
        "money_chart": bar_chart(
            labels,
            {
                "cash in": [row.cash_in / 100 for row in report.days],
                "usage revenue": [row.money["usage_revenue"] / 100 for row in report.days],
                "refunds + disputes": [(row.money["refunds"] + row.money["disputes"]) / 100 for row in report.days],
            },
            title="Money per day (major units)",
        ),
        "usage_chart": bar_chart(
            labels, {"images": [row.usage["images"] for row in report.days]}, title="Images restored per day"
        ),
        "error": error,
    }
    return render(request, "staff/finance.html", context)


@staff_view
def finance_csv(request: HttpRequest) -> HttpResponse:
    report, _, error = _finance(request)
    if error:
        return HttpResponseBadRequest(error, content_type="text/plain; charset=utf-8")
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="finance-{report.start}-{report.end}.csv"'
    writer = csv.writer(response)
    writer.writerow(finance.CSV_HEADER)
    writer.writerows(finance.finance_csv_rows(report))
    return response


@staff_view
def reconciliation(request: HttpRequest) -> HttpResponse:
    from billing.models import StripeEvent
    from billing.reconcile import reconcile

    context = {
        "differences": reconcile(),
        "wallets": Wallet.objects.count(),
        "pending_events": StripeEvent.objects.filter(processed_at__isnull=True).order_by("created")[:50],
    }
    return render(request, "staff/reconciliation.html", context)


@staff_view
def organizations(request: HttpRequest) -> HttpResponse:
    context = {"organizations": reports.organizations_overview(), "is_admin": is_staff_admin(request.user)}
    return render(request, "staff/organizations.html", context)


@staff_view
def organization_detail(request: HttpRequest, organization_id: uuid.UUID) -> HttpResponse:
    organization = get_object_or_404(Organization.objects.select_related("plan", "wallet"), id=organization_id)
    form = WalletAdjustForm(request.POST or None, initial={"token": uuid.uuid4()})
    status = 200
    if request.method == "POST" and not is_staff_admin(request.user):
        return render(request, "moderation/staff_forbidden.html", status=403)
    if request.method == "POST":
        if form.is_valid():
            try:
                entry = wallet_adjust(
                    organization=organization,
                    amount=form.cleaned_data["amount"],
                    idempotency_key=f"staff-adjust:{form.cleaned_data['token']}",
                    description=form.cleaned_data["reason"],
                    created_by=request.user,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = exc.status_code
            else:
                adjusted = format_money(entry.amount, organization.wallet.currency)
                messages.success(request, f"Wallet adjusted by {adjusted}.")
                return redirect("staff:organization_detail", organization_id=organization.id)
        else:
            status = 400
    context = {
        "organization": organization,
        "form": form,
        "entries": ledger_for(organization)[:50],
        "members": organization.memberships.select_related("user").order_by("created_at"),
        "plan_form": PlanChangeForm(initial={"plan": organization.plan_id}),
        "payments": payments_for(organization)[:20],
        "jobs": with_job_charges(organization.jobs.select_related("api_key"))[:25],
        # What support asks first: which key sets exist (live or revoked, and by whom), and what
        # trust and safety has on file for the organization.
        "subscriptions": organization.subscriptions.prefetch_related("keys").order_by("revoked_at", "-created_at")[:50],
        "moderation_items": organization.moderation_items.order_by("-created_at")[:20],
        "is_admin": is_staff_admin(request.user),
        "billing_account": billing_account_for(organization),
    }
    return render(request, "staff/organization_detail.html", context, status=status)


@staff_view(admin=True)
@require_POST
def organization_plan(request: HttpRequest, organization_id: uuid.UUID) -> HttpResponse:
    organization = get_object_or_404(Organization, id=organization_id)
    form = PlanChangeForm(request.POST)
    if form.is_valid():
        plan = form.cleaned_data["plan"]
        plan_change(organization=organization, plan=plan, changed_by=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, f"{organization.name} is now on the {plan.name} plan.")
    else:
        messages.error(request, " ".join(error for errors in form.errors.values() for error in errors))
    return redirect("staff:organization_detail", organization_id=organization.id)


@staff_view(admin=True)
@require_POST
def organization_status(request: HttpRequest, organization_id: uuid.UUID) -> HttpResponse:
    organization = get_object_or_404(Organization, id=organization_id)
    reason = request.POST.get("reason", "").strip()[:300]
    try:
        if not reason:
            raise ApplicationError("Say why: suspending or reactivating an organization records a reason.")
        organization_set_status(
            organization=organization, status=request.POST.get("status", ""), actor=request.user, reason=reason
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{organization.name} is now {organization.get_status_display().lower()}.")
    if request.POST.get("next") == "detail":
        return redirect("staff:organization_detail", organization_id=organization.id)
    return redirect("staff:organizations")


@staff_view
def models(request: HttpRequest) -> HttpResponse:
    statuses = weights_status(settings.WEIGHTS_DIR)
    rows = []
    for spec in MODELS.values():
        missing = missing_checkpoints(spec, statuses)
        rows.append(
            {
                "spec": spec,
                "enabled": spec.name in settings.ENABLED_MODELS,
                "missing": missing,
                "licence": licence_state(spec.name),
            }
        )
    checkpoints = [{"checkpoint": checkpoint, "status": statuses.get(name)} for name, checkpoint in MANIFEST.items()]
    context = {
        "rows": rows,
        "checkpoints": checkpoints,
        "weights_dir": settings.WEIGHTS_DIR,
        "unknown_enabled": sorted(set(settings.ENABLED_MODELS) - set(MODELS)),
        "payments_configured": payments_configured(),
        "commercial": deployment_is_commercial(),
    }
    return render(request, "staff/models.html", context)


@staff_view
def request_lookup(request: HttpRequest) -> HttpResponse:
    """Find a request by the id a customer quotes: the job's page, or for an upload refused at
    intake the moderation item that recorded it."""
    query = request.GET.get("q", "").strip()
    if not query:
        return render(request, "staff/request_lookup.html", {"query": ""})
    found = lookup.request_find(query)
    if found is not None and found.job_id:
        return redirect("staff:request_detail", job_id=found.job_id)
    if found is not None and found.item_id:
        return redirect("moderation:item", item_id=found.item_id)
    return render(request, "staff/request_lookup.html", {"query": query, "not_found": True}, status=404)


@staff_view
def request_detail(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    record = lookup.request_record(job_id)
    if record is None:
        raise Http404("No such request.")
    return render(request, "staff/request_detail.html", {"record": record, "job": record.job})
