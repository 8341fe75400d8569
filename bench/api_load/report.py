"""The printed report: a table of figures, what limits the throughput, then three parseable lines."""

from __future__ import annotations

import os

from bench.api_load.capture import Capture, shape
from bench.api_load.cpu import cpu_model
from bench.api_load.measure import ApiRun, PgbenchRun

# Issue 9's targets.
TARGET_RATIO = 0.5  # accepted/s of one organization over pgbench's minimal admission
TARGET_P99_MS = 100.0  # at 32 connections
TARGET_MANY_ORGS_PER_S = 300.0  # across 16 organizations


def summary(
    *,
    one: ApiRun,
    many: ApiRun | None,
    many_count: int,
    pg: PgbenchRun,
    loadavg_start,
    loadavg_end,
    floor: ApiRun | None = None,
) -> str:
    """The headline figures of one run and the parseable lines (first org's figures unsuffixed)."""
    rate, p99 = one.accepted_per_s, one.load.latency_ms["p99"]
    ratio = rate / pg.result.tps if pg.result.tps else 0.0
    ceiling = one.ceiling.rate(401) if one.ceiling is not None else 0.0
    ratio_framework = rate / ceiling if ceiling else 0.0
    out = [
        "",
        "=== summary ===",
        f"load average: {' '.join(loadavg_start)} at the start, {' '.join(loadavg_end)} at the end",
    ]
    out.append(f"1 organization:   {rate:8.1f} accepted/s, p50 {one.load.latency_ms['p50']:.1f} ms, p99 {p99:.1f} ms")
    if many is not None:
        out.append(
            f"{many_count} organizations: {many.accepted_per_s:8.1f} accepted/s, p50 {many.load.latency_ms['p50']:.1f} ms, "
            f"p99 {many.load.latency_ms['p99']:.1f} ms (CPU {many.cpu.busy_fraction * 100:.0f}% busy)"
        )
    out.append(
        f"pgbench, minimal admission (INSERT job, UPDATE wallet, INSERT ledger), one hot wallet: "
        f"{pg.result.tps:.1f} tps, p99 {pg.result.latency_ms['p99']:.1f} ms"
    )
    out.append(f"keyless 401 ceiling: {ceiling:.1f}/s")
    if floor is not None:
        out.extend(_floor_lines(one, floor, pg))
    checks = [
        (f"ratio >= {TARGET_RATIO}", ratio >= TARGET_RATIO),
        (f"p99 <= {TARGET_P99_MS:.0f} ms (1 org)", p99 <= TARGET_P99_MS),
    ]
    if many is not None:
        checks.append(
            (
                f">= {TARGET_MANY_ORGS_PER_S:.0f}/s across {many_count} orgs",
                many.accepted_per_s >= TARGET_MANY_ORGS_PER_S,
            )
        )
    out.append("targets: " + "; ".join(f"{label}: {'MET' if ok else 'MISSED'}" for label, ok in checks))
    out.append(f"accepted_per_s: {rate:.1f}")
    out.append(f"p99_ms: {p99:.1f}")
    out.append(f"ratio: {ratio:.3f}")
    out.append(f"ratio_framework: {ratio_framework:.3f}")
    if many is not None:
        out.append(f"accepted_per_s_{many_count}_orgs: {many.accepted_per_s:.1f}")
        out.append(f"p99_ms_{many_count}_orgs: {many.load.latency_ms['p99']:.1f}")
    if floor is not None:
        out.append(f"floor_accepted_per_s: {floor.accepted_per_s:.1f}")
        out.append(f"ratio_floor: {floor.accepted_per_s / pg.result.tps if pg.result.tps else 0.0:.3f}")
    return "\n".join(out)


def _ms_per_accepted(run: ApiRun, group: str = "gunicorn") -> float:
    """CPU milliseconds a process group spent per accepted submission of ``run``."""
    accepted = run.load.count(202) or 1
    return run.cpu.groups.get(group, 0.0) / accepted * 1000


def _floor_lines(one: ApiRun, floor: ApiRun, pg: PgbenchRun) -> list[str]:
    """The floor next to the service: what the Django request cycle and the project's layers keep."""
    rate, web, floor_web = floor.accepted_per_s, _ms_per_accepted(one), _ms_per_accepted(floor)
    other = [status for status in floor.load.status_counts if status != "202"]
    lines = [
        f"floor (the same work without Django, DRF or the ORM): {rate:8.1f} accepted/s, "
        f"p99 {floor.load.latency_ms['p99']:.1f} ms, gunicorn {floor_web:.2f} ms CPU per accepted "
        f"(the service: {web:.2f} ms), ratio to pgbench {rate / pg.result.tps if pg.result.tps else 0.0:.3f}"
    ]
    p = floor.persisted
    lines.append(
        f"floor left behind: {p.jobs_queued} QUEUED jobs, {p.hold_entries} holds, {p.job_logs} job logs, "
        f"{p.queued_messages} queued messages for {floor.load.count(202)} answers 202"
    )
    if other or floor.load.errors:
        lines.append(f"floor: other answers {floor.load.status_counts}, errors {floor.load.errors}")
    return lines


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
    profile: str = "",
    image: str = "64x64 PNG",
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
        f"{load.duration_s:.1f} s; body: JSON image_base64 of {image}; "
        f"{tenants} organization{'s' if tenants > 1 else ''} ({'keys cycled per request' if tenants > 1 else 'one wallet row'})"
    )
    if comparisons:
        add("server configurations tried (short runs, best first):")
        for run in sorted(comparisons, key=lambda r: -r.accepted_per_s):
            other = run.load.requests - run.load.count(202) + sum(run.load.errors.values())
            add(
                f"  {run.config.label:<16} {run.accepted_per_s:8.1f} accepted/s  p99 {run.load.latency_ms['p99']:7.1f} ms  "
                f"gunicorn {run.cpu.cores('gunicorn'):.2f} cores  postgres {run.cpu.cores('postgres'):.2f} cores  "
                f"non-202/errors {other}"
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
        ("pgbench tps (minimal admission)", f"{pg.result.tps:.1f}"),
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
    trips_sql = len(capture.statements) + (2 if tx else 0)
    inside = f", {len(tx)} inside one transaction (+ BEGIN/COMMIT)" if tx else ""
    add(
        f"  SQL statements         {len(capture.statements)}: {outside} in autocommit{inside} = {trips_sql} database round trips"
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
    add("server database sessions, average count by state (pg_stat_activity, 10 samples/s):")
    out.extend(_activity_lines(api.activity))
    add(f"  {api.activity.mean_holders:5.2f}  holding a row lock (in a write transaction, not waiting)")
    add(f"CPU during pgbench ({pg.cpu.wall_s:.1f} s):")
    out.extend(_cpu_lines(pg.cpu, per=pg.result.transactions, per_label="transaction"))
    add("pgbench sessions, average count by state:")
    out.extend(_activity_lines(pg.activity))
    add(f"  {pg.activity.mean_holders:5.2f}  holding a row lock (in a write transaction, not waiting)")
    add("pgbench per-statement latency (ms), slowest first:")
    for ms, sql in sorted(pg.result.per_statement_ms, key=lambda t: -t[0])[:5]:
        add(f"  {ms:8.3f}  {shape(sql, 96)}")
    if profile:
        add(profile)
    add("")
    for line in limits(api=api, pg=pg, capture=capture, tenants=tenants):
        add(f"what limits it: {line}")
    return "\n".join(out)


def limits(*, api: ApiRun, pg: PgbenchRun, capture: Capture, tenants: int) -> list[str]:
    """Plain sentences drawn from the measurements, the binding limit first."""
    rate = api.accepted_per_s or 1e-9
    usage = api.cpu
    gunicorn_ms = _ms_per_accepted(api)
    postgres_ms = _ms_per_accepted(api, "postgres")
    holders = api.activity.mean_holders
    hold_ms = holders / rate * 1000
    pg_hold_ms = pg.activity.mean_holders / (pg.result.tps or 1e-9) * 1000
    waiting = sum(v for k, v in api.activity.top(20) if "Lock:" in k)
    lock_bound = holders >= 0.8 * tenants and waiting >= 1.0
    cpu_bound = usage.busy_fraction >= 0.85
    lock_line = (
        f"wallet lock: a server session held an organization's wallet row lock (the conditional UPDATE until COMMIT) "
        f"{holders:.2f} of the time on average ({tenants} wallet{'s' if tenants > 1 else ''}), "
        f"with {waiting:.1f} sessions queued behind it: each submission holds it ~{hold_ms:.2f} ms, "
        f"so one organization cannot exceed ~{1000 / max(hold_ms, 1e-3):.0f}/s on any number of cores. "
        f"pgbench holds it ~{pg_hold_ms:.2f} ms for the minimal admission; the difference is the rest of "
        "the service's transaction and the Python between its statements."
    )
    cpu_line = (
        f"CPU: the machine was {usage.busy_fraction * 100:.0f}% busy; gunicorn (Django) used {usage.cores('gunicorn'):.2f} "
        f"cores = {gunicorn_ms:.2f} ms CPU per accepted submission, PostgreSQL {usage.cores('postgres'):.2f} cores = "
        f"{postgres_ms:.2f} ms; at that cost {os.cpu_count()} cores serve at most "
        f"~{(os.cpu_count() or 1) * 1000 / max(gunicorn_ms + postgres_ms, 1e-3):.0f} submissions/s."
    )
    lines = []
    if lock_bound:
        lines += [lock_line, cpu_line]
    elif cpu_bound:
        lines += [cpu_line, lock_line] if waiting >= 1.0 else [cpu_line]
    else:
        lines += [
            f"neither CPU ({usage.busy_fraction * 100:.0f}% busy) nor the wallet lock ({holders:.2f} held) is saturated: "
            "requests wait on something else (I/O, too few server workers for the connections).",
            cpu_line,
        ]
    if api.ceiling is not None:
        lines.append(
            f"framework floor: the same URL without a key (401, no database, no Redis) answered {api.ceiling.rate(401):.0f}/s "
            "with this gunicorn configuration, an upper bound for any keyed view on this stack."
        )
    lines.append(
        f"bare database: pgbench ran the minimal admission at {pg.result.tps:.0f} tps (p99 {pg.result.latency_ms['p99']:.1f} ms) "
        f"with PostgreSQL using {pg.cpu.cores('postgres'):.2f} cores (5 round trips: BEGIN, 3 statements, COMMIT); the API "
        f"makes {len(capture.statements)} SQL statement(s), {len(capture.redis_round_trips)} Redis round trips and the "
        "Django request cycle."
    )
    return lines
