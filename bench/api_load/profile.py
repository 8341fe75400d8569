"""Where a submission's CPU time goes inside the Django process (``--profile N``).

N submissions run in this process through the test client under cProfile with a CPU-time timer
(so other processes on the machine do not inflate the figures). Own time is summed per package
(Django, DRF, Pillow, psycopg, redis, the project's apps, ...); the project's functions are
listed by cumulative time.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import sysconfig
import time
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STDLIB = sysconfig.get_paths()["stdlib"]
PROJECT_APPS = ("accounts", "billing", "jobs", "restoration", "ml", "config")


def _group(filename: str) -> str:
    if filename.startswith("~") or filename.startswith("<"):
        return "C builtins"
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    try:
        relative = Path(filename).resolve().relative_to(REPO_ROOT)
    except ValueError:
        return "stdlib" if filename.startswith(STDLIB) else "other"
    return f"project: {relative.parts[0]}"


def profile_submissions(*, count: int, path: str, body: bytes, headers: dict[str, str]) -> str:
    from django.test import Client

    client = Client()
    content_type = headers.get("Content-Type", "application/json")
    extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    client.post(path, data=body, content_type=content_type, headers=extra)  # connections, caches
    # The same number without the profiler first: cProfile multiplies the cost of Python calls
    # (~3.5x here), so this is the figure to compare between commits.
    plain0 = time.process_time()
    for _ in range(count):
        client.post(path, data=body, content_type=content_type, headers=extra)
    plain_ms = (time.process_time() - plain0) / count * 1000
    profiler = cProfile.Profile(time.process_time)
    statuses: dict[int, int] = defaultdict(int)
    cpu0 = time.process_time()
    profiler.enable()
    for _ in range(count):
        statuses[client.post(path, data=body, content_type=content_type, headers=extra).status_code] += 1
    profiler.disable()
    cpu_ms = (time.process_time() - cpu0) / count * 1000
    stats = pstats.Stats(profiler, stream=sys.stdout)
    by_group: dict[str, float] = defaultdict(float)
    project: list[tuple[float, float, str]] = []
    everything: list[tuple[float, str]] = []
    for (filename, line, name), (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():
        group = _group(filename)
        by_group[group] += tottime
        everything.append((tottime, f"{group}: {Path(filename).name}:{line} {name}"))
        if group.startswith("project:"):
            where = Path(filename).resolve().relative_to(REPO_ROOT)
            project.append((cumtime, tottime, f"{where}:{line} {name}"))
    total = sum(by_group.values()) or 1e-9
    lines = [
        f"in-process profile: {count} submissions ({dict(statuses)}), {cpu_ms:.2f} ms CPU each "
        "(test client: no gunicorn, no HTTP parsing; includes the profiler's own overhead)",
        f"  without the profiler: {plain_ms:.2f} ms CPU per submission (same process, same {count} requests)",
        "  own CPU time by package:",
    ]
    for group, seconds in sorted(by_group.items(), key=lambda kv: -kv[1])[:14]:
        lines.append(f"    {seconds / total * 100:5.1f}%  {seconds / count * 1000:6.3f} ms  {group}")
    lines.append("  project functions by cumulative CPU per submission:")
    for cumtime, tottime, where in sorted(project, reverse=True)[:18]:
        lines.append(f"    {cumtime / count * 1000:7.3f} ms cum  {tottime / count * 1000:6.3f} ms own  {where}")
    lines.append("  functions by own CPU per submission (any package):")
    for tottime, where in sorted(everything, reverse=True)[:24]:
        lines.append(f"    {tottime / count * 1000:6.3f} ms own  {where}")
    return "\n".join(lines)
