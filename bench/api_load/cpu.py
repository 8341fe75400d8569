"""Where the CPU went during a measured window, from /proc (utime + stime deltas)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _proc_times() -> dict[int, tuple[str, int]]:
    """pid -> (comm, utime+stime in ticks) for every process we can read."""
    out: dict[int, tuple[str, int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[0] is field 3 (state): utime is field 14, stime field 15.
        out[int(entry.name)] = (comm, int(fields[11]) + int(fields[12]))
    return out


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies summed over all CPUs."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])  # user..steal; guest time is already inside user
    return total - idle, total


@dataclass
class CpuSnapshot:
    procs: dict[int, tuple[str, int]]
    busy: int
    total: int


def snapshot() -> CpuSnapshot:
    busy, total = _machine_ticks()
    return CpuSnapshot(_proc_times(), busy, total)


class ProcessTracker:
    """Re-reads /proc a few times a second so processes that exit inside the window (pgbench's
    server backends disconnect at its end) keep their last-seen CPU time."""

    def __init__(self, interval_s: float = 0.5) -> None:
        import threading

        self.last_seen: dict[int, tuple[str, int]] = {}
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessTracker:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.last_seen.update(_proc_times())

    def complete(self, after: CpuSnapshot) -> CpuSnapshot:
        """``after`` plus the processes that were seen during the window but are gone now."""
        procs = {**{p: v for p, v in self.last_seen.items() if p not in after.procs}, **after.procs}
        return CpuSnapshot(procs, after.busy, after.total)


@dataclass
class CpuUsage:
    """CPU seconds per group over the window, and the window's wall time."""

    wall_s: float
    machine_busy_s: float
    machine_capacity_s: float
    groups: dict[str, float]

    def cores(self, group: str) -> float:
        return self.groups.get(group, 0.0) / self.wall_s if self.wall_s else 0.0

    @property
    def busy_fraction(self) -> float:
        return self.machine_busy_s / self.machine_capacity_s if self.machine_capacity_s else 0.0


def usage_between(
    before: CpuSnapshot,
    after: CpuSnapshot,
    *,
    wall_s: float,
    pid_groups: dict[str, list[int]],
    comm_groups: dict[str, str],
    measured_s: dict[str, float] | None = None,
) -> CpuUsage:
    """Group CPU time by explicit pids (gunicorn), by process name (postgres, redis) or by a
    figure measured otherwise (``measured_s``: children reaped inside the window, whose /proc
    entries are gone by the second snapshot).

    A process that started inside the window counts from zero; one that ended inside it is
    lost unless it is in ``measured_s``.
    """
    ncpu = os.cpu_count() or 1
    groups: dict[str, float] = dict(measured_s or {})
    assigned: set[int] = set()

    def delta(pid: int) -> float:
        if pid not in after.procs:
            return 0.0
        start = before.procs.get(pid, (None, 0))[1]
        return max(0, after.procs[pid][1] - start) / CLK_TCK

    for name, pids in pid_groups.items():
        groups[name] = sum(delta(p) for p in set(pids))
        assigned.update(pids)
    for name, comm in comm_groups.items():
        groups[name] = sum(delta(p) for p, (c, _) in after.procs.items() if c == comm and p not in assigned)
    busy_s = (after.busy - before.busy) / CLK_TCK
    groups["other"] = max(0.0, busy_s - sum(groups.values()))
    capacity_s = (after.total - before.total) / CLK_TCK
    # /proc/stat counts over all CPUs; wall_s * ncpu is the same number up to sampling skew.
    return CpuUsage(wall_s=wall_s, machine_busy_s=busy_s, machine_capacity_s=capacity_s or wall_s * ncpu, groups=groups)
