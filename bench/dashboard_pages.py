"""How fast the dashboard's history pages answer for an organization with 10,000 jobs.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/codeformer .venv/bin/python -m bench.dashboard_pages

Builds a throw-away test database (PostgreSQL from DATABASE_URL), gives one organization
10,000 jobs over 90 days (completed ones with their hold and capture in the ledger), signs a
member in and requests each page repeatedly through Django's test client (the whole stack but
the socket). Prints, per page, the median and 95th-percentile time and the number of queries,
and beside it the time PostgreSQL itself takes for the page's essential SQL (the 25 newest
jobs of the organization plus the count), measured in the same run: that is the comparison
point fixed outside our code. The target is under 150 ms per page.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from datetime import timedelta

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_databases, teardown_databases  # noqa: E402

JOBS = int(os.environ.get("BENCH_JOBS", "10000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "30"))
TARGET_MS = 150


def populate():
    from django.utils import timezone

    from billing.models import LedgerEntry, Wallet
    from jobs.models import Job
    from tests.accounts.factories import OrganizationFactory, UserFactory

    user = UserFactory(username="bench", email="bench@example.test")
    org = OrganizationFactory(name="Bench Photos", owner=user, initial_credit=10_000_000)
    wallet = Wallet.objects.get(organization=org)
    now = timezone.now()
    statuses = [Job.Status.COMPLETED] * 8 + [Job.Status.FAILED, Job.Status.CANCELED]
    jobs, entries = [], []
    for index in range(JOBS):
        created = now - timedelta(minutes=13 * index)
        status = statuses[index % len(statuses)]
        job = Job(
            id=uuid.uuid4(),
            organization=org,
            created_by=user,
            source=Job.Source.GATEWAY,
            status=status,
            params={"upscale": 2},
            price=10,
            input_name=f"photo-{index}.jpg",
            input_width=640,
            input_height=480,
            output_width=1280 if status == Job.Status.COMPLETED else None,
            output_height=960 if status == Job.Status.COMPLETED else None,
            started_at=created + timedelta(seconds=2),
            completed_at=created + timedelta(seconds=9),
        )
        jobs.append((job, created))
        kinds = [("hold", 0, 10)] + (
            [("capture", -10, -10)] if status == Job.Status.COMPLETED else [("release", 0, -10)]
        )
        for kind, amount, held in kinds:
            entries.append(
                (
                    LedgerEntry(
                        wallet=wallet,
                        organization=org,
                        kind=kind,
                        amount=amount,
                        held_change=held,
                        balance_after=0,
                        held_after=0,
                        idempotency_key=f"job:{job.id}:{kind}",
                        job=job,
                    ),
                    created,
                )
            )
    Job.objects.bulk_create([job for job, _ in jobs], batch_size=2000)
    for job, created in jobs:  # auto_now_add ignores the value given at insert
        job.created_at = created
    Job.objects.bulk_update([job for job, _ in jobs], ["created_at"], batch_size=2000)
    LedgerEntry.objects.bulk_create([entry for entry, _ in entries], batch_size=2000)
    for entry, created in entries:
        entry.created_at = created
    LedgerEntry.objects.bulk_update([entry for entry, _ in entries], ["created_at"], batch_size=2000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_job; ANALYZE billing_ledgerentry;")
    return user, org


def time_page(client, url: str) -> tuple[float, float, int]:
    client.get(url)  # warm: templates compiled, caches filled
    samples = []
    for _ in range(ROUNDS):
        began = time.perf_counter()
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
        samples.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    return statistics.median(samples), statistics.quantiles(samples, n=20)[18], len(captured)


def time_minimal_sql(org) -> float:
    """The essential SQL of a jobs page, straight to PostgreSQL: count + the 25 newest rows."""
    samples = []
    with connection.cursor() as cursor:
        for _ in range(ROUNDS):
            began = time.perf_counter()
            cursor.execute("SELECT COUNT(*) FROM jobs_job WHERE organization_id = %s", [org.id])
            cursor.fetchall()
            cursor.execute(
                "SELECT * FROM jobs_job WHERE organization_id = %s ORDER BY created_at DESC LIMIT 25", [org.id]
            )
            cursor.fetchall()
            samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples)


def main() -> int:
    from django.test import Client

    old = setup_databases(verbosity=0, interactive=False)
    try:
        user, org = populate()
        client = Client()
        client.force_login(user)
        baseline = time_minimal_sql(org)
        print(f"jobs_in_organization: {JOBS}  rounds: {ROUNDS}  load: {os.getloadavg()[0]:.2f}")
        print(f"minimal_sql_ms (count + 25 newest, straight to PostgreSQL): {baseline:.2f}")
        pages = {
            "jobs": "/jobs/",
            "jobs page 200": "/jobs/?page=200",
            "jobs filtered": "/jobs/?status=COMPLETED&q=photo-99",
            "usage 30 days": "/usage/",
            "usage 90 days": "/usage/?days=90",
            "overview": "/",
        }
        worst = 0.0
        for name, url in pages.items():
            p50, p95, queries = time_page(client, url)
            worst = max(worst, p95)
            print(
                f"{name:>16}: p50_ms {p50:7.1f}  p95_ms {p95:7.1f}  queries {queries:3d}  vs_minimal_sql {p50 / baseline:6.1f}x"
            )
        print(f"worst_p95_ms: {worst:.1f}  target < {TARGET_MS} ms: {'MET' if worst < TARGET_MS else 'MISSED'}")
    finally:
        teardown_databases(old, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
