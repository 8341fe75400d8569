"""Dashboard pages of the organization's history: the filtered jobs list, usage per day, their
CSV exports and the small thumbnails the list shows."""

from __future__ import annotations

import csv
import io

from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from PIL import Image, UnidentifiedImageError

from billing.selectors import ledger_for, wallet_currency
from jobs import selectors as job_selectors
from jobs.models import Job
from restoration.dashboard import history
from restoration.dashboard.tenancy import org_view

PAGE_SIZE = 25
THUMB_PX = 160
THUMB_CACHE_S = 24 * 3600
CHART_HEIGHT = 120


@require_GET
@org_view()
def jobs(request: HttpRequest) -> HttpResponse:
    form = history.JobFilterForm(request.GET or None, organization=request.organization)
    items = history.jobs_filtered(request.organization, form)
    page = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "form": form,
        "filtered": form.active,
        "query": query.urlencode(),
        "statuses": Job.Status.choices,
        # The list refreshes itself while any job on this page may still change (jobs_live.js).
        "in_flight": any(job.status in Job.IN_FLIGHT for job in page),
    }
    return render(request, "dashboard/jobs.html", context)


@require_GET
@org_view()
def jobs_export(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered jobs as CSV, streamed (an organization may have many thousands)."""
    form = history.JobFilterForm(request.GET or None, organization=request.organization)
    items = history.jobs_filtered(request.organization, form)
    header = [
        "request_id",
        "created_at",
        "status",
        "source",
        "api_key",
        "member",
        "input_name",
        "processing_s",
        "currency",
        "price_minor",
        "charged_minor",
        "refunded_minor",
    ]
    currency = wallet_currency(request.organization)

    def rows():
        yield header
        for job in items.iterator(chunk_size=1000):
            processing = (
                round((job.completed_at - job.started_at).total_seconds(), 3)
                if job.started_at and job.completed_at
                else ""
            )
            yield [
                job.request_id,
                job.created_at.isoformat(),
                job.status,
                job.source,
                job.api_key.subscription.name if job.api_key_id else "",
                job.created_by.email or job.created_by.username if job.created_by_id else "",
                job.input_name,
                processing,
                currency,
                job.price,
                job.charged_total,
                job.refunded_total,
            ]

    return _csv_response(rows(), f"jobs-{request.organization.slug}.csv")


@require_GET
@org_view()
def usage(request: HttpRequest) -> HttpResponse:
    start, end, error = history.usage_period(request.GET)
    report = history.usage_report(request.organization, start=start, end=end)
    context = {
        "report": report,
        "error": error,
        "period_days": request.GET.get("days", "" if request.GET.get("from") else "30"),
        "periods": history.PERIODS,
        "query": f"from={start.isoformat()}&to={end.isoformat()}",
        "image_bars": _bars(report, "images", report.peak_images),
        "spend_bars": _bars(report, "spent", report.peak_spent),
        "chart_height": CHART_HEIGHT,
    }
    return render(request, "dashboard/usage.html", context)


def _bars(report: history.UsageReport, metric: str, peak: int) -> list[dict]:
    """One bar per day for an inline SVG chart (no script, no third-party asset)."""
    count = max(len(report.days), 1)
    width = 100 / count
    bars = []
    for index, day in enumerate(report.days):
        value = getattr(day, metric)
        height = CHART_HEIGHT * value / peak if peak else 0
        bars.append(
            {
                "x": round(index * width, 3),
                "width": round(max(width * 0.8, 0.2), 3),
                "y": round(CHART_HEIGHT - height, 2),
                "height": round(height, 2),
                "day": day.day,
                "value": value,
            }
        )
    return bars


@require_GET
@org_view()
def usage_export(request: HttpRequest) -> StreamingHttpResponse:
    start, end, _error = history.usage_period(request.GET)
    report = history.usage_report(request.organization, start=start, end=end)

    def rows():
        currency = wallet_currency(request.organization)
        yield ["date", "images", "completed", "not_charged", "currency", "spent_minor", "spent"]
        for day in report.days:
            yield [
                day.day.isoformat(),
                day.images,
                day.completed,
                day.not_charged,
                currency,
                day.spent,
                f"{day.spent / 100:.2f}",
            ]
        yield [
            "total",
            report.images,
            report.completed,
            sum(d.not_charged for d in report.days),
            currency,
            report.spent,
            f"{report.spent / 100:.2f}",
        ]

    return _csv_response(rows(), f"usage-{request.organization.slug}-{start}-{end}.csv")


@require_GET
@org_view()
def ledger_export(request: HttpRequest) -> StreamingHttpResponse:
    """The whole ledger as CSV, oldest first (for the accounts: every movement with the balance
    after it; the running balance of the last row is the wallet's balance)."""
    # A job's movements are by whoever sent the job: the member (dashboard) or the key set (API).
    entries = (
        ledger_for(request.organization)
        .select_related("job__created_by", "job__api_key__subscription")
        .order_by("created_at", "id")
    )
    currency = wallet_currency(request.organization)

    def rows():
        yield [
            "created_at",
            "kind",
            "description",
            "request_id",
            "by",
            "currency",
            "amount_minor",
            "held_change_minor",
            "balance_after_minor",
            "held_after_minor",
        ]
        for entry in entries.iterator(chunk_size=1000):
            by = ""
            if entry.created_by_id:
                by = "our staff" if entry.created_by.is_staff else (entry.created_by.email or entry.created_by.username)
            elif entry.job_id and entry.job.created_by_id:
                by = entry.job.created_by.email or entry.job.created_by.username
            elif entry.job_id and entry.job.api_key_id:
                by = f"key set {entry.job.api_key.subscription.name}"
            yield [
                entry.created_at.isoformat(),
                entry.kind_label,
                entry.description,
                entry.job.request_id if entry.job_id else "",
                by,
                currency,
                entry.amount,
                entry.held_change,
                entry.balance_after,
                entry.held_after,
            ]

    return _csv_response(rows(), f"ledger-{request.organization.slug}.csv")


def _csv_response(rows, filename: str) -> StreamingHttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def lines():
        for row in rows:
            writer.writerow(row)
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@require_GET
@org_view()
def job_thumbnail(request: HttpRequest, request_id: str, kind: str) -> HttpResponse:
    """A small JPEG of a job's input or output, made once and kept in the cache for a day."""
    if kind not in ("input", "output"):
        raise Http404("No such image.")
    job = job_selectors.job_get(organization=request.organization, request_id=request_id)
    field = job.output_file if kind == "output" else job.input_file
    if job.moderated_at or job.files_purged_at or not field:
        raise Http404("This image is not available.")
    key = f"thumb:{job.id}:{kind}"
    data = cache.get(key)
    if data is None:
        data = _thumbnail(field)
        cache.set(key, data, THUMB_CACHE_S)
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = f"private, max-age={THUMB_CACHE_S}"
    return response


def _thumbnail(field) -> bytes:
    try:
        with field.open("rb") as handle, Image.open(handle) as image:
            image.draft("RGB", (THUMB_PX, THUMB_PX))  # JPEG: decode at a fraction of the size
            image.thumbnail((THUMB_PX, THUMB_PX))
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=75)
            return out.getvalue()
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise Http404("This image is not available.") from exc
