"""The organization's job history and usage, for the dashboard: filters, per-day usage, CSV.

Reads only, organization first. A page of jobs costs a fixed number of queries whatever the
organization's size (the charged amount is a subquery, keys and members are joined), and the
per-day usage is one grouped query for jobs and one for the ledger.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Membership, Subscription
from billing.models import LedgerEntry
from billing.selectors import with_job_charges
from jobs.models import REQUEST_ID_PREFIX, Job

MAX_PERIOD_DAYS = 366
PERIODS = (7, 30, 90)


class JobFilterForm(forms.Form):
    """The jobs page's filters. Every field is optional; a bad value is a form error, and the
    list is then shown unfiltered by that field."""

    q = forms.CharField(
        required=False,
        max_length=200,
        label="Search",
        help_text="A request id (or its first 8 characters) or a file name.",
    )
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Job.Status.choices])
    source = forms.ChoiceField(required=False, choices=[("", "Any source"), *Job.Source.choices])
    key = forms.ChoiceField(required=False, label="API key")
    user = forms.ChoiceField(required=False, label="Member")
    date_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    ids = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data, *, organization):
        super().__init__(data)
        keys = Subscription.objects.filter(organization=organization).order_by("name").values_list("id", "name")
        self.fields["key"].choices = [("", "Any key")] + [(str(pk), name) for pk, name in keys]
        members = (
            Membership.objects.filter(organization=organization)
            .select_related("user")
            .order_by("user__username")
            .values_list("user_id", "user__username", "user__email")
        )
        self.fields["user"].choices = [("", "Anyone")] + [(str(pk), email or name) for pk, name, email in members]

    def clean_ids(self) -> list[uuid.UUID]:
        raw = self.cleaned_data.get("ids") or ""
        try:
            return [uuid.UUID(part.strip()) for part in raw.split(",") if part.strip()][:100]
        except ValueError:
            raise forms.ValidationError("Not a list of job ids.") from None

    def clean(self):
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    @property
    def active(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in self.fields)


def jobs_filtered(organization, form: JobFilterForm) -> QuerySet[Job]:
    """The organization's jobs, newest first, narrowed by the form's valid fields, with what
    each was charged and refunded (``with_job_charges``) and its key and member joined."""
    jobs = with_job_charges(
        Job.objects.filter(organization=organization).select_related("api_key__subscription", "created_by")
    )
    if not form.is_bound:
        return jobs
    form.is_valid()
    data = {name: value for name, value in getattr(form, "cleaned_data", {}).items() if name not in form.errors}
    if data.get("q"):
        jobs = jobs.filter(_search(data["q"]))
    for field, lookup in (("status", "status"), ("source", "source"), ("key", "api_key__subscription_id")):
        if data.get(field):
            jobs = jobs.filter(**{lookup: data[field]})
    if data.get("user"):
        jobs = jobs.filter(created_by_id=int(data["user"]))
    if data.get("date_from"):
        jobs = jobs.filter(created_at__gte=_start_of(data["date_from"]))
    if data.get("date_to"):
        jobs = jobs.filter(created_at__lt=_start_of(data["date_to"] + timedelta(days=1)))
    if data.get("ids"):
        jobs = jobs.filter(id__in=data["ids"])
    return jobs


def _search(text: str) -> Q:
    """A full request id or UUID matches that job; 8 hex characters match ids starting with
    them (what people copy from a log line); anything matches file names containing it."""
    text = text.strip()
    bare = text.removeprefix(REQUEST_ID_PREFIX).lstrip("…")
    by_name = Q(input_name__icontains=text)
    try:
        return Q(id=uuid.UUID(bare)) | by_name
    except ValueError:
        pass
    if len(bare) == 8 and all(c in "0123456789abcdefABCDEF" for c in bare):
        # The first 8 hex digits read the same with or without the UUID's dashes, so a range
        # on the id (which both PostgreSQL and SQLite index) finds them without a cast.
        low = uuid.UUID(bare.lower() + "0" * 24)
        high = uuid.UUID(bare.lower() + "f" * 24)
        return Q(id__gte=low, id__lte=high) | by_name
    return by_name


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class UsageDay:
    day: date
    images: int
    completed: int
    not_charged: int
    spent: int


@dataclass(frozen=True)
class UsageReport:
    start: date
    end: date
    days: list[UsageDay]

    @property
    def images(self) -> int:
        return sum(day.images for day in self.days)

    @property
    def completed(self) -> int:
        return sum(day.completed for day in self.days)

    @property
    def spent(self) -> int:
        return sum(day.spent for day in self.days)

    @property
    def peak_images(self) -> int:
        return max((day.images for day in self.days), default=0)

    @property
    def peak_spent(self) -> int:
        return max((day.spent for day in self.days), default=0)


def usage_period(params) -> tuple[date, date, str]:
    """The period a usage page or export asks for: ``days`` (7, 30 or 90) or ``from``/``to``
    dates, at most a year; anything else falls back to the last 30 days. Returns (start, end,
    error message or '')."""
    today = timezone.localdate()
    error = ""
    try:
        start = date.fromisoformat(params["from"]) if params.get("from") else None
        end = date.fromisoformat(params["to"]) if params.get("to") else None
    except ValueError:
        start = end = None
        error = "Dates must be written YYYY-MM-DD; showing the last 30 days."
    if start or end:
        end = min(end or today, today)
        start = start or end - timedelta(days=29)
        if start > end or (end - start).days >= MAX_PERIOD_DAYS:
            return today - timedelta(days=29), today, "A period is at most a year and must start before it ends."
        return start, end, error
    days = params.get("days") or "30"
    if not days.isdigit() or int(days) not in PERIODS:
        days, error = "30", error or f"Choose {', '.join(map(str, PERIODS))} days, or dates."
    return today - timedelta(days=int(days) - 1), today, error


def usage_report(organization, *, start: date, end: date) -> UsageReport:
    """Images submitted and money spent per day from ``start`` to ``end`` (both included, in the
    server's time zone), every day present even when nothing happened."""
    since, until = _start_of(start), _start_of(end + timedelta(days=1))
    per_day_jobs = {
        row["day"]: row
        for row in Job.objects.filter(organization=organization, created_at__gte=since, created_at__lt=until)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            images=Count("id"),
            completed=Count("id", filter=Q(status=Job.Status.COMPLETED)),
            not_charged=Count("id", filter=Q(status__in=[Job.Status.FAILED, Job.Status.ERROR, Job.Status.CANCELED])),
        )
    }
    per_day_spend = dict(
        LedgerEntry.objects.filter(
            organization=organization, kind=LedgerEntry.Kind.CAPTURE, created_at__gte=since, created_at__lt=until
        )
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Sum("amount"))
        .values_list("day", "total")
    )
    days = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        row = per_day_jobs.get(day, {})
        days.append(
            UsageDay(
                day=day,
                images=row.get("images", 0),
                completed=row.get("completed", 0),
                not_charged=row.get("not_charged", 0),
                spent=-(per_day_spend.get(day) or 0),
            )
        )
    return UsageReport(start=start, end=end, days=days)
