"""The printed report: a table of figures, what limits the throughput, then three parseable lines."""

from __future__ import annotations

import os

from bench.api_load.capture import Capture, shape
from bench.api_load.cpu import cpu_model
from bench.api_load.measure import ApiRun, PgbenchRun

TARGET_PER_S = 1000.0
TARGET_RATIO = 0.25


def _cpu_lines(usage, *, per: int, per_label: str) -> list[str]:
    lines = [f"  machine busy           {usage.busy_fraction * 100:5.1f}% of {os.cpu_count()} cores"]
    for name, seconds in sorted(usage.groups.items(), key=lambda kv: -kv[1]):
        per_req = f"{seconds / per * 1000:6.2f} ms CPU per {per_label}" if per else ""
        lines.append(f"  {name:<22} {seconds / usage.wall_s:5.2f} cores  {per_req}")
    return lines


def _activity_lines(activity) -> list[str]:
    return [f"  {value:5.1f}  {key}" for key, value in activity.top(6)]


def render(
    *,
    api: ApiRun,
    pg: PgbenchRun,
    capture: Capture,
    concurrency: int,
    tenants: int,
    comparisons: list[ApiRun],
    loadavg: list[str],
) -> str:
    load = api.load
    accepted = load.count(202)
    rate = api.accepted_per_s
    ratio = rate / pg.result.tps if pg.result.tps else 0.0
    others = {k: v for k, v in sorted(load.status_counts.items()) if k != "202"}
    out: list[str] = []
    add = out.append
    add("")
    add("=== bench.api_load: POST /codeformer-image-restoration/v1/codeformer/generate ===")
    add(f"machine: {os.cpu_count()} cores, {cpu_model()}; load average at start: {' '.join(loadavg)}")
    add(
        f"server: gunicorn {api.config.label}; load: {load.generator}, {concurrency} connections, "
        f"{load.duration_s:.1f} s; body: JSON image_base64 of a 64x64 PNG; "
        f"{tenants} organization{'s' if tenants > 1 else ''} ({'keys cycled per request' if tenants > 1 else 'one wallet row'})"
    )
    if comparisons:
        add("server configurations tried (short runs, best first):")
        for run in sorted(comparisons, key=lambda r: -r.accepted_per_s):
            add(
                f"  {run.config.label:<16} {run.accepted_per_s:8.1f} accepted/s  p99 {run.load.latency_ms['p99']:7.1f} ms  "
                f"gunicorn {run.cpu.cores('gunicorn'):.2f} cores  postgres {run.cpu.cores('postgres'):.2f} cores"
            )
    add("")
    add(f"{'figure':<34}{'value':>14}")
    rows = [
        ("accepted (202) per second", f"{rate:.1f}"),
        ("accepted in window", f"{accepted}"),
        ("latency p50 (ms)", f"{load.latency_ms['p50']:.1f}"),
        ("latency p90 (ms)", f"{load.latency_ms['p90']:.1f}"),
        ("latency p99 (ms)", f"{load.latency_ms['p99']:.1f}"),
        ("latency max (ms)", f"{load.latency_ms['max']:.1f}"),
        ("other answers by status", ", ".join(f"{k}: {v}" for k, v in others.items()) or "none"),
        ("transport errors", ", ".join(f"{k}: {v}" for k, v in load.errors.items()) or "none"),
        ("pgbench tps (same transaction)", f"{pg.result.tps:.1f}"),
        ("pgbench latency p50 / p99 (ms)", f"{pg.result.latency_ms['p50']:.1f} / {pg.result.latency_ms['p99']:.1f}"),
        ("pgbench failed transactions", f"{pg.result.failed}"),
        ("ratio accepted/s : pgbench tps", f"{ratio:.3f}"),
    ]
    if api.ceiling is not None:
        rows.append(("same URL, no key (401) per second", f"{api.ceiling.rate(401):.1f}"))
    for label, value in rows:
        add(f"{label:<34}{value:>14}")
    add("")
    add("per accepted submission:")
    n = accepted or 1
    tx = capture.transaction
    outside = len(capture.statements) - len(tx)
    add(
        f"  SQL statements         {len(capture.statements)}: {outside} in autocommit, {len(tx)} inside one transaction "
        f"(+ BEGIN/COMMIT) = {len(capture.statements) + 2} database round trips"
    )
    trips = capture.redis_round_trips
    names = ", ".join("+".join(t) or "?" for t in trips)
    add(f"  Redis round trips      {len(trips)} ({names})")
    add(f"  media files written    {api.media_files / n:.2f}")
    p = api.persisted
    add(
        f"  left behind            {p.jobs_queued} QUEUED jobs, {p.hold_entries} holds, {p.job_logs} job logs, "
        f"{p.queued_messages} queued messages for {accepted} answers 202"
    )
    add("  statements of one submission (* = inside the transaction):")
    for statement in capture.statements:
        add(f"    {'*' if statement.in_transaction else ' '} {shape(statement.sql)}")
    add("")
    add(f"CPU during the API window ({api.cpu.wall_s:.1f} s):")
    out.extend(_cpu_lines(api.cpu, per=accepted, per_label="accepted"))
    add("server database sessions, average count by state (pg_stat_activity, 5 samples/s):")
    out.extend(_activity_lines(api.activity))
    add(f"CPU during pgbench ({pg.cpu.wall_s:.1f} s):")
    out.extend(_cpu_lines(pg.cpu, per=pg.result.transactions, per_label="transaction"))
    add("pgbench sessions, average count by state:")
    out.extend(_activity_lines(pg.activity))
    add("pgbench per-statement latency (ms), slowest first:")
    for ms, sql in sorted(pg.result.per_statement_ms, key=lambda t: -t[0])[:5]:
        add(f"  {ms:8.3f}  {shape(sql, 96)}")
    add("")
    for line in limits(api=api, pg=pg, capture=capture):
        add(f"what limits it: {line}")
    met = rate >= TARGET_PER_S or ratio >= TARGET_RATIO
    add(
        f"target (>= {TARGET_PER_S:.0f} accepted/s or ratio >= {TARGET_RATIO}): {'MET' if met else 'NOT MET'} "
        f"({rate:.0f}/s, ratio {ratio:.3f})"
    )
    add(f"accepted_per_s: {rate:.1f}")
    add(f"p99_ms: {load.latency_ms['p99']:.1f}")
    add(f"ratio: {ratio:.3f}")
    return "\n".join(out)


def limits(*, api: ApiRun, pg: PgbenchRun, capture: Capture) -> list[str]:
    """Plain sentences drawn from the measurements, most telling first."""
    accepted = api.load.count(202) or 1
    usage = api.cpu
    lines: list[str] = []
    gunicorn_ms = usage.groups.get("gunicorn", 0.0) / accepted * 1000
    postgres_ms = usage.groups.get("postgres", 0.0) / accepted * 1000
    if usage.busy_fraction >= 0.85:
        lines.append(
            f"CPU: the machine was {usage.busy_fraction * 100:.0f}% busy; gunicorn (Django) used "
            f"{usage.cores('gunicorn'):.2f} cores = {gunicorn_ms:.2f} ms CPU per accepted submission, PostgreSQL "
            f"{usage.cores('postgres'):.2f} cores = {postgres_ms:.2f} ms. At that cost both cores give at most "
            f"~{(os.cpu_count() or 1) * 1000 / max(gunicorn_ms + postgres_ms, 0.001):.0f} submissions/s."
        )
    else:
        lines.append(
            f"not CPU: the machine was only {usage.busy_fraction * 100:.0f}% busy "
            f"(gunicorn {gunicorn_ms:.2f} ms, PostgreSQL {postgres_ms:.2f} ms CPU per submission), so requests wait."
        )
    lock_wait = sum(v for k, v in api.activity.top(20) if "Lock:" in k)
    in_tx = api.activity.mean("idle in transaction")
    if lock_wait >= 1.0 or in_tx >= 1.0:
        lines.append(
            f"wallet row lock: on average {lock_wait:.1f} server sessions waited on a row lock and {in_tx:.1f} sat "
            "'idle in transaction' (the lock held while Python runs between statements); every submission of one "
            "organization serializes on its wallet row (SELECT ... FOR UPDATE) until COMMIT."
        )
    if api.ceiling is not None:
        lines.append(
            f"framework floor: the same URL answered without a key (401, no database) at {api.ceiling.rate(401):.0f}/s "
            "with this gunicorn configuration, an upper bound for any view behind this stack."
        )
    lines.append(
        f"bare database: pgbench ran the same transaction at {pg.result.tps:.0f} tps (p99 {pg.result.latency_ms['p99']:.1f} ms) "
        f"using {pg.cpu.cores('postgres'):.2f} cores of PostgreSQL; the API adds "
        f"{len(capture.statements) - len(capture.transaction)} statements outside the transaction and the Python work "
        "inside it."
    )
    return lines
