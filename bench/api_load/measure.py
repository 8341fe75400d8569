"""One measured window: the API under load, or pgbench, with CPU and database counters around it."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.api_load import cpu, observe
from bench.api_load.environment import BenchEnv, admin_connect, flush_redis
from bench.api_load.loadgen import LoadResult, LoadSpec, run_load
from bench.api_load.pgbench import PgbenchResult, run_pgbench
from bench.api_load.server import Gunicorn, ServerConfig

COMM_GROUPS = {"postgres": "postgres", "redis": "redis-server"}


@dataclass
class ApiRun:
    config: ServerConfig
    load: LoadResult
    cpu: cpu.CpuUsage
    persisted: observe.Persisted
    activity: observe.ActivitySample
    media_files: int
    ceiling: LoadResult | None = None

    @property
    def accepted_per_s(self) -> float:
        return self.load.rate(202)


@dataclass
class PgbenchRun:
    result: PgbenchResult
    cpu: cpu.CpuUsage
    activity: observe.ActivitySample


def reset_state(env: BenchEnv) -> None:
    """Back to an empty job table and an unheld wallet, so each phase starts from the same state.

    The benchmark database is thrown away afterwards; truncating the ledger here is fine.
    """
    from bench.api_load.environment import BENCH_DB

    with admin_connect(BENCH_DB) as conn, conn.transaction():
        # The cascade reaches the blocklist too (through its moderation items): its rows (--blocklist)
        # are put back, all columns but the generated one (pdq_bits).
        (columns,) = conn.execute(
            "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM information_schema.columns"
            " WHERE table_name = 'moderation_blockedhash' AND is_generated = 'NEVER'"
        ).fetchone()
        conn.execute(
            f"CREATE TEMPORARY TABLE kept_blocklist ON COMMIT DROP AS SELECT {columns} FROM moderation_blockedhash"
        )
        conn.execute("TRUNCATE jobs_job CASCADE")
        conn.execute(f"INSERT INTO moderation_blockedhash ({columns}) SELECT {columns} FROM kept_blocklist")
    with admin_connect(BENCH_DB) as conn:
        conn.execute("UPDATE billing_wallet SET held = 0, in_flight = 0")
        conn.execute("VACUUM ANALYZE jobs_job, billing_ledgerentry, billing_wallet, moderation_blockedhash")
    flush_redis()
    for path in sorted(env.media_root.rglob("*"), reverse=True):
        if path.is_file():
            path.unlink()


def settle(timeout_s: float = 15.0) -> None:
    """Wait until no session of the benchmark database is running a statement or a transaction."""
    from bench.api_load.environment import BENCH_DB

    deadline = time.monotonic() + timeout_s
    with admin_connect() as conn:
        while time.monotonic() < deadline:
            busy = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend' AND state <> 'idle'",
                [BENCH_DB],
            ).fetchone()[0]
            if not busy:
                break
            time.sleep(0.1)
    time.sleep(0.3)  # the last on_commit enqueue runs just after COMMIT


def count_files(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file())


def measure_api(
    *,
    env: BenchEnv,
    config: ServerConfig,
    spec: LoadSpec,
    warmup_s: float,
    generator: str,
    ceiling_spec: LoadSpec | None = None,
    log_dir: Path,
    app: str = "config.wsgi",
    app_environ: dict[str, str] | None = None,
) -> ApiRun:
    log_path = log_dir / f"gunicorn-{app.partition(':')[0]}-{config.label.replace(' ', '_')}.log"
    server = Gunicorn(config, {**env.server_environ(), **(app_environ or {})}, log_path, app=app)
    server.start()
    try:
        spec = replace(spec, port=server.port)
        warm = run_load(replace(spec, duration_s=warmup_s), prefer=generator)
        settle()
        if warm.count(202) == 0:
            raise RuntimeError(
                f"warm-up got no 202 (answers by status: {warm.status_counts}, errors: {warm.errors}); "
                f"server log:\n{server.log_tail()}"
            )
        reset_state(env)
        load, usage, activity = _window(
            lambda on_start: run_load(spec, prefer=generator, on_start=on_start), server_pids=server.pids
        )
        settle()  # requests the generator abandoned at its deadline still finish on the server
        files = count_files(env.media_root)
        persisted = observe.read_persisted()
        ceiling = None
        if ceiling_spec is not None:
            ceiling = run_load(replace(ceiling_spec, port=server.port), prefer=generator)
        return ApiRun(config, load, usage, persisted, activity, files, ceiling)
    finally:
        server.stop()


def measure_pgbench(*, env: BenchEnv, scripts: list[str], concurrency: int, duration_s: int) -> PgbenchRun:
    reset_state(env)
    result, usage, activity = _window(
        lambda on_start: run_pgbench(scripts, concurrency=concurrency, duration_s=duration_s, on_start=on_start),
        server_pids=list,
        generator_name="pgbench",
    )
    return PgbenchRun(result, usage, activity)


def _window(run, *, server_pids, generator_name: str = "load generator"):
    started: list[int] = []
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    before = cpu.snapshot()
    t0 = time.monotonic()
    with observe.ActivitySampler() as sampler, cpu.ProcessTracker() as tracker:
        result = run(started.append)
    wall = time.monotonic() - t0
    after = tracker.complete(cpu.snapshot())
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The generator has exited and been reaped: its CPU time is in RUSAGE_CHILDREN, not /proc.
    generator_s = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    pid_groups = {"gunicorn": server_pids(), "bench (this process)": [os.getpid()]}
    usage = cpu.usage_between(
        before,
        after,
        wall_s=wall,
        pid_groups=pid_groups,
        comm_groups=COMM_GROUPS,
        measured_s={generator_name: generator_s},
    )
    return result, usage, sampler.result
