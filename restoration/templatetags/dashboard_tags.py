"""Template filters for the dashboard and the staff console."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html

from billing.money import format_money

register = template.Library()


@register.filter
def money(minor_units, currency: str = "USD") -> str:
    """Integer minor units as ``$1,234.56`` (``-$5.00`` for debits)."""
    if minor_units in (None, ""):
        return "—"
    return format_money(int(minor_units), currency)


_UTC_FORMATS = {"datetime": "%Y-%m-%d %H:%M UTC", "date": "%Y-%m-%d", "time": "%H:%M:%S UTC"}


@register.filter
def local_time(value, style: str = "datetime") -> str:
    """A ``<time>`` element that dashboard.js rewrites into the viewer's own time zone and
    locale; without JavaScript it reads in UTC, labelled as such. ``style``: datetime, date, time."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if not isinstance(value, datetime):
        return "—"
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.UTC)
    utc = value.astimezone(timezone.UTC)
    style = style if style in _UTC_FORMATS else "datetime"
    return format_html(
        '<time datetime="{}" data-local="{}">{}</time>',
        utc.isoformat(timespec="seconds").replace("+00:00", "Z"),
        style,
        utc.strftime(_UTC_FORMATS[style]),
    )


@register.filter
def status_class(status: str) -> str:
    return {
        "QUEUED": "badge-wait",
        "PROCESSING": "badge-run",
        "COMPLETED": "badge-ok",
        "FAILED": "badge-bad",
        "ERROR": "badge-bad",
        "CANCELED": "badge-muted",
        "succeeded": "badge-ok",
        "pending": "badge-wait",
        "failed": "badge-bad",
        "active": "badge-ok",
        "suspended": "badge-bad",
    }.get(str(status), "badge-muted")


@register.filter
def short_id(request_id: str) -> str:
    """The last 12 characters of a request id, enough to tell jobs apart in a table."""
    return f"…{str(request_id)[-12:]}"


def format_seconds(seconds: float | None) -> str:
    """``4.2 s``, ``3 min 05 s``, ``2 h 01 min``."""
    if seconds is None:
        return "—"
    seconds = max(float(seconds), 0.0)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def job_elapsed(job) -> str:
    """Time since the job was created, up to its end (or now, while it runs)."""
    end = job.completed_at or timezone.now()
    return format_seconds((end - job.created_at).total_seconds())


@register.filter
def job_duration(job) -> str:
    """Processing time (started to finished); a dash for jobs that never ran to an end."""
    if job.started_at is None or job.completed_at is None:
        return "—"
    return format_seconds((job.completed_at - job.started_at).total_seconds())


@register.filter
def charged(job) -> str:
    """The amount actually charged (and refunded), from a ``with_job_charges`` annotation."""
    total = getattr(job, "charged_total", None)
    if total:
        refunded = getattr(job, "refunded_total", 0) or 0
        if refunded >= total:
            return f"{money(total)}, refunded"
        return f"{money(total)}, {money(refunded)} refunded" if refunded else money(total)
    if job.status in job.IN_FLIGHT:
        return "held"
    return "not charged"


@register.filter
def price_total(lines) -> int:
    return sum(line.amount for line in lines or [])


@register.filter
def pretty_json(text: str) -> str:
    """A JSON body indented for reading; anything else as it is."""
    import json

    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (TypeError, ValueError):
        return text


@register.filter
def entry_kind(entry) -> str:
    """A ledger entry's kind as people read it (``LedgerEntry.kind_label``)."""
    return entry.kind_label
