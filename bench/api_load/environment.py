"""The benchmark's own database, Redis database, media folder and tenant.

Everything lives apart from the development and test data: a database dropped and created on
every run, its own Redis database number and Dramatiq namespace, a temporary media folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
BENCH_DB = "codeformer_bench"
BENCH_REDIS_URL = "redis://127.0.0.1:6379/14"
BENCH_NAMESPACE = "codeformer-bench"

# Limits raised so that neither the per-minute rate limit nor the in-flight cap is what the
# benchmark measures: with no worker consuming, every accepted job stays QUEUED.
BENCH_PLAN_RPM = 2_000_000_000
BENCH_PLAN_IN_FLIGHT = 2_000_000_000
# Minor units: enough for tens of millions of holds at the seeded prices.
BENCH_CREDIT = 10**12


@dataclass(frozen=True)
class BenchEnv:
    database_url: str
    redis_url: str
    media_root: Path
    var_dir: Path

    def server_environ(self) -> dict[str, str]:
        """Environment of the server under test (and of this process's Django)."""
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "DRAMATIQ_NAMESPACE": BENCH_NAMESPACE,
            "MEDIA_ROOT": str(self.media_root),
            "VAR_DIR": str(self.var_dir),
            # Production mode: DEBUG would record every query in memory and slow each request.
            "DJANGO_DEBUG": "false",
            "SECRET_KEY": "bench-api-load-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "SECURE_SSL_REDIRECT": "false",  # the load generator talks plain http to 127.0.0.1
            "LOG_LEVEL": "WARNING",
            "EMBEDDED_WORKER": "false",
            # Production settings, but a benchmark sells nothing: CodeFormer (non-commercial
            # weights) is served as on a research deployment.
            "COMMERCIAL_DEPLOYMENT": "false",
        }


def make_env() -> BenchEnv:
    scratch = Path(tempfile.mkdtemp(prefix="codeformer-bench-"))
    media = scratch / "media"
    media.mkdir()
    (scratch / "static").mkdir()  # STATIC_ROOT: WhiteNoise warns when it is missing
    return BenchEnv(
        database_url=f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{BENCH_DB}",
        redis_url=BENCH_REDIS_URL,
        media_root=media,
        var_dir=scratch,
    )


def remove_scratch(env: BenchEnv) -> None:
    shutil.rmtree(env.var_dir, ignore_errors=True)


def admin_connect(dbname: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=dbname, autocommit=True)


def recreate_database() -> None:
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{BENCH_DB}"')


def drop_database() -> None:
    with admin_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')


def flush_redis() -> None:
    redis.Redis.from_url(BENCH_REDIS_URL, socket_connect_timeout=2).flushdb()


def setup_django(env: BenchEnv) -> None:
    """Point this process's Django at the benchmark database and migrate it."""
    os.environ.update(env.server_environ())
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


@dataclass(frozen=True)
class Tenant:
    organization_id: str
    wallet_id: int
    api_key: str
    plan_code: str


def create_tenants(count: int) -> list[Tenant]:
    """Organizations on a plan whose limits do not bind, each with a large prepaid balance."""
    from accounts import services as account_services
    from billing.models import Plan

    plan = Plan(
        code="bench-unlimited",
        name="Benchmark (limits raised)",
        requests_per_minute=BENCH_PLAN_RPM,
        max_jobs_in_flight=BENCH_PLAN_IN_FLIGHT,
    )
    plan.full_clean()
    plan.save()
    tenants = []
    for index in range(count):
        organization = account_services.organization_create(
            name=f"Benchmark organization {index}", slug=f"bench-{index}", plan=plan, initial_credit=BENCH_CREDIT
        )
        _subscription, keys = account_services.subscription_create(organization=organization, name="bench")
        tenants.append(
            Tenant(
                organization_id=str(organization.id),
                wallet_id=organization.wallet.id,
                api_key=keys["primary"],
                plan_code=plan.code,
            )
        )
    return tenants


def fill_blocklist(count: int, *, keep_clear_of: str) -> int:
    """``count`` blocked hashes, random (seeded: the same list on every run) and none within the
    match distance of ``keep_clear_of`` (the payload's hash), so that every submission is still
    accepted after the database compared it with all of them. Written as staff import a hash
    list (``moderation.services.blocklist_import``), by a staff admin of the benchmark's own."""
    import random

    from django.conf import settings
    from django.contrib.auth import get_user_model

    from lib.pdq import hamming_distance
    from moderation.services import blocklist_import

    rng = random.Random(20261203)
    hashes: set[str] = set()
    while len(hashes) < count:
        candidate = f"{rng.getrandbits(256):064x}"
        if hamming_distance(candidate, keep_clear_of) > settings.PDQ_MATCH_DISTANCE:
            hashes.add(candidate)
    staff = get_user_model().objects.create_superuser("bench-staff", "bench-staff@example.com", None)
    return blocklist_import(text="\n".join(sorted(hashes)), reason="bench: random hash", actor=staff)["added"]


def close_django_connections() -> None:
    from django.db import connections

    connections.close_all()
