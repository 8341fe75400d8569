"""``python -m bench.api_load``: accepted submissions per second against gunicorn + PostgreSQL +
Redis on this machine, next to the bare database running the least SQL an admission needs.

Steps: recreate the ``codeformer_bench`` database and Redis db 14, migrate, create
``--tenants`` organizations (default 16) on a plan whose rate limit and in-flight cap are raised
out of the way, capture the SQL of one submission, start gunicorn (no Dramatiq worker: accepted
jobs stay queued), then in one run on one database server: (a) a fixed number of connections
for a fixed time submitting for one organization, then cycling the keys of all organizations;
(b) pgbench running the minimal admission transaction (INSERT job, UPDATE wallet, INSERT ledger,
on the same tables, one hot wallet row) at the same concurrency; (c) the same URL without a key
(401), the framework's ceiling; (d) the floor: the same submission's work without Django, DRF or
the ORM (``floor.py``), on the same gunicorn. Ends with parseable lines: accepted_per_s, p99_ms,
ratio (accepted/s over (b)), ratio_framework (over (c)), the many-organization figures and the
floor's.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.api_load import environment
from bench.api_load.capture import UUID_RE, capture_submission
from bench.api_load.loadgen import LoadSpec, wrk_path
from bench.api_load.measure import measure_api, measure_pgbench
from bench.api_load.payload import (
    DEFAULT_IMAGE,
    GENERATE_PATH,
    IMAGES,
    KEY_HEADER,
    generate_body,
    generate_headers,
    image_png,
)
from bench.api_load.pgbench import build_script, minimal_admission
from bench.api_load.profile import profile_submissions
from bench.api_load.report import render, summary
from bench.api_load.server import ServerConfig

# Chosen from `--compare` runs on the 2-core machine (see README.md): sync x8 while the wallet
# lock bound (2026-11-21), sync x4 since the admission is one statement and only CPU binds
# (2026-12-03: fewer processes switching on 2 cores, half the p99).
DEFAULT_SERVER = "sync:4"
COMPARE_SERVERS = ["sync:4", "sync:8", "gthread:2x8", "gthread:3x4"]
FLOOR_APP = "bench.api_load.floor:application"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.api_load", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration", type=int, default=20, help="seconds of measured load, and of pgbench (default 20)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=32, help="connections kept busy, and pgbench clients (default 32)"
    )
    parser.add_argument(
        "--server",
        default=DEFAULT_SERVER,
        help=f"gunicorn configuration, sync:N or gthread:WxT (default {DEFAULT_SERVER})",
    )
    parser.add_argument("--workers", type=int, help="override the number of gunicorn worker processes")
    parser.add_argument("--threads", type=int, help="override the number of threads per gthread worker")
    parser.add_argument(
        "--compare",
        action="store_true",
        help=f"first try {', '.join(COMPARE_SERVERS)} in short runs and measure the best one",
    )
    parser.add_argument(
        "--tenants",
        type=int,
        default=16,
        help="organizations of the many-organization run (default 16; 1 skips it): requests cycle "
        "through their keys; the first run always uses one organization (one hot wallet row)",
    )
    parser.add_argument(
        "--image",
        choices=sorted(IMAGES),
        default=DEFAULT_IMAGE,
        help=f"the image submitted (default {DEFAULT_IMAGE}: a 64x64 PNG of PDQ quality 100, so the blocklist statement "
        "runs as for a photo; gradient: the 64x64 PNG of the runs before 2026-12-03, quality 44, never looked up; "
        "photo: a 1600x1200 JPEG of ~570 KB, for the costs that grow with the upload)",
    )
    parser.add_argument(
        "--blocklist",
        type=int,
        default=0,
        metavar="N",
        help="blocked hashes in the list each submission is compared with (default 0, a new deployment's; "
        "random hashes, none near the payload's, so every submission is still accepted)",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up load, not measured (default 3)")
    parser.add_argument(
        "--generator", choices=["auto", "wrk", "python"], default="auto", help="load generator (auto: wrk if installed)"
    )
    parser.add_argument(
        "--no-ceiling", action="store_true", help="skip the 401 run that measures the framework's own ceiling"
    )
    parser.add_argument(
        "--no-floor",
        action="store_true",
        help="skip the floor run: the same submission's work without Django, DRF or the ORM (bench/api_load/floor.py)",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also profile N in-process submissions (cProfile, CPU time) and report where Django spends it",
    )
    parser.add_argument(
        "--profile-only",
        action="store_true",
        help="with --profile: print the profile and stop (no load, no pgbench; does not disturb the machine)",
    )
    parser.add_argument("--show-sql", action="store_true", help="print the captured statements and the pgbench script")
    parser.add_argument("--keep-db", action="store_true", help="leave the codeformer_bench database for inspection")
    parser.add_argument(
        "--quick", action="store_true", help="5 s runs and a 1 s warm-up: checks the harness, figures are rough"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup = 5, 1.0
    if not (
        1 <= args.duration <= 600
        and 1 <= args.concurrency <= 512
        and 1 <= args.tenants <= 100
        and 0 <= args.blocklist <= 1_000_000
    ):
        parser.error("--duration must be 1..600, --concurrency 1..512, --tenants 1..100 and --blocklist 0..1000000")
    return args


def server_config(args: argparse.Namespace, text: str) -> ServerConfig:
    config = ServerConfig.parse(text)
    return ServerConfig(config.worker_class, args.workers or config.workers, args.threads or config.threads)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    loadavg = Path("/proc/loadavg").read_text().split()[:3]
    now = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    print(f"bench.api_load: {now}, load average {' '.join(loadavg)}", flush=True)
    env = environment.make_env()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-logs-", dir=env.var_dir))
    try:
        environment.recreate_database()
        environment.flush_redis()
        environment.setup_django(env)
        tenants = environment.create_tenants(args.tenants)
        png = image_png(args.image)
        body = generate_body(png)
        from lib.pdq import pdq_of_bytes

        pdq = pdq_of_bytes(png)
        image = describe_image(args.image, png, pdq.quality)
        if args.blocklist:
            environment.fill_blocklist(args.blocklist, keep_clear_of=pdq.hex)
            image += f"; {args.blocklist} blocked hashes"
        print(f"image: {image}", flush=True)
        capture = capture_submission(path=GENERATE_PATH, body=body, headers=generate_headers(tenants[0].api_key))
        if capture.status_code != 202:
            print(f"the API did not accept a submission: {capture.status_code} {capture.body[:500]!r}", file=sys.stderr)
            return 2
        profile_text = ""
        if args.profile:
            print(f"profiling {args.profile} in-process submissions ...", flush=True)
            profile_text = profile_submissions(
                count=args.profile, path=GENERATE_PATH, body=body, headers=generate_headers(tenants[0].api_key)
            )
        if args.profile_only:
            print(profile_text or "--profile-only needs --profile N")
            return 0 if profile_text else 2
        floor_environ = _floor_environ()
        known = _known_uuids()
        scripts = [build_script(minimal_admission(rows_capture(tenants[0], body).transaction), known_uuids=known)]
        environment.close_django_connections()
        print(
            f"captured {len(capture.statements)} statements ({len(capture.transaction)} in the transaction)", flush=True
        )

        spec = LoadSpec(
            port=0, method="POST", path=GENERATE_PATH, body=body,
            headers={k: v for k, v in generate_headers("").items() if k != KEY_HEADER},
            rotate_header=KEY_HEADER, rotate_values=(tenants[0].api_key,),
            concurrency=args.concurrency, duration_s=args.duration,
        )  # fmt: skip
        print(f"load generator: {'wrk' if args.generator != 'python' and wrk_path() else 'python-asyncio'}", flush=True)
        comparisons = _compare(args, env, spec, log_dir) if args.compare else []
        chosen = (
            max(comparisons, key=lambda r: r.accepted_per_s).config if comparisons else server_config(args, args.server)
        )
        print(f"measuring gunicorn {chosen.label}: {args.duration} s at {args.concurrency} connections ...", flush=True)
        # The same URL without a key: 401 before any database work, the stack's own ceiling.
        ceiling = None if args.no_ceiling else replace(spec, rotate_values=(), duration_s=min(5, args.duration))
        api = measure_api(
            env=env, config=chosen, spec=spec, warmup_s=args.warmup, generator=args.generator,
            ceiling_spec=ceiling, log_dir=log_dir,
        )  # fmt: skip
        floor = None
        if not args.no_floor:
            print(f"measuring the floor (no Django, DRF or ORM) on gunicorn {chosen.label} ...", flush=True)
            floor = measure_api(
                env=env, config=chosen, spec=spec, warmup_s=args.warmup, generator=args.generator,
                log_dir=log_dir, app=FLOOR_APP, app_environ=floor_environ,
            )  # fmt: skip
        many = None
        if len(tenants) > 1:
            print(
                f"measuring {len(tenants)} organizations: {args.duration} s at {args.concurrency} connections ...",
                flush=True,
            )
            many = measure_api(
                env=env, config=chosen, spec=replace(spec, rotate_values=tuple(t.api_key for t in tenants)),
                warmup_s=args.warmup, generator=args.generator, log_dir=log_dir,
            )  # fmt: skip
        print(f"pgbench: minimal admission, one wallet, {args.concurrency} clients, {args.duration} s ...", flush=True)
        pg = measure_pgbench(env=env, scripts=scripts, concurrency=args.concurrency, duration_s=args.duration)
        if args.show_sql:
            _print_sql(capture, scripts[0])
        report = render(
            api=api, pg=pg, capture=capture, concurrency=args.concurrency, tenants=1,
            comparisons=comparisons, loadavg=loadavg, profile=profile_text, image=image,
        )  # fmt: skip
        print(report)
        if many is not None:
            print(f"\n--- {len(tenants)} organizations (keys cycled per request) ---")
            print(
                render(
                    api=many,
                    pg=pg,
                    capture=capture,
                    concurrency=args.concurrency,
                    tenants=len(tenants),
                    comparisons=[],
                    loadavg=loadavg,
                    image=image,
                )
            )
        end_loadavg = Path("/proc/loadavg").read_text().split()[:3]
        print(
            summary(
                one=api,
                many=many,
                many_count=len(tenants),
                pg=pg,
                floor=floor,
                loadavg_start=loadavg,
                loadavg_end=end_loadavg,
            )
        )
        return 0
    finally:
        if not args.keep_db:
            environment.drop_database()
            environment.flush_redis()
        environment.remove_scratch(env)


def _compare(args: argparse.Namespace, env, spec: LoadSpec, log_dir: Path) -> list:
    """Short runs of each candidate server configuration."""
    runs = []
    for text in COMPARE_SERVERS:
        config = server_config(args, text)
        print(f"comparing {config.label} ...", flush=True)
        short = replace(spec, duration_s=min(8, args.duration))
        runs.append(
            measure_api(
                env=env, config=config, spec=short, warmup_s=args.warmup, generator=args.generator, log_dir=log_dir
            )
        )
    return runs


def describe_image(name: str, png: bytes, quality: int) -> str:
    """The payload in words: its size and PDQ quality, and whether its hash is looked up."""
    from django.conf import settings

    looked_up = "looked up in the blocklist" if quality >= settings.PDQ_MIN_QUALITY else "never looked up"
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        shape = f"{image.width}x{image.height} {image.format}"
    return f"{name}, {shape} of {len(png)} bytes, PDQ quality {quality} ({looked_up})"


def rows_capture(tenant, body: bytes):
    """A submission captured with the admission written as separate statements in a transaction
    (the path SQLite takes), so that the minimal admission replays this deployment's real rows:
    its INSERT of the job, its conditional UPDATE of the wallet and its INSERT of the ledger
    entry, each exactly as the service would write them."""
    from unittest import mock

    with mock.patch("billing.services.one_statement_holds", return_value=False):
        capture = capture_submission(path=GENERATE_PATH, body=body, headers=generate_headers(tenant.api_key))
    if capture.status_code != 202:
        raise RuntimeError(f"the API did not accept a submission: {capture.status_code} {capture.body[:500]!r}")
    return capture


def _print_sql(capture, script: str) -> None:
    print("--- statements of one submission (* = inside the transaction) ---")
    for statement in capture.statements:
        print(f"{'*' if statement.in_transaction else ' '} {statement.sql}")
    print("--- pgbench script ---")
    print(script, flush=True)


def _floor_environ() -> dict[str, str]:
    """What the floor needs to do the service's work: its key pepper, the price the service held for
    the payload (the captured submission's), and the blocklist's match settings."""
    from django.conf import settings

    from jobs.models import Job

    price = Job.objects.order_by("created_at").values_list("price", flat=True).first()
    return {
        "FLOOR_DATABASE_URL": os.environ["DATABASE_URL"],
        "FLOOR_KEY_PEPPER": settings.API_KEY_PEPPER,
        "FLOOR_PRICE": str(price),
        "FLOOR_PDQ_MIN_QUALITY": str(settings.PDQ_MIN_QUALITY),
        "FLOOR_PDQ_MATCH_DISTANCE": str(settings.PDQ_MATCH_DISTANCE),
    }


def _known_uuids() -> set[str]:
    """UUIDs that existed before the captured submission (the tenant's); any other is per-submission."""
    from accounts.models import Organization, Subscription

    known = {str(v) for v in Organization.objects.values_list("id", flat=True)}
    known |= {str(v) for v in Subscription.objects.values_list("id", flat=True)}
    return {u for u in known if UUID_RE.fullmatch(u)}


if __name__ == "__main__":
    sys.exit(main())
