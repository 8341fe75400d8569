"""Template filters for the dashboard and the staff console."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def money(minor_units, currency: str = "USD") -> str:
    """Integer minor units as ``$1,234.56`` (``-$5.00`` for debits)."""
    if minor_units in (None, ""):
        return "—"
    value = int(minor_units)
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(str(currency).upper(), f"{currency} ")
    sign = "-" if value < 0 else ""
    major, minor = divmod(abs(value), 100)
    return f"{sign}{symbol}{major:,}.{minor:02d}"


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
