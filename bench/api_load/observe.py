"""What a measured window left in PostgreSQL and Redis, and what the server's database sessions
were waiting on while the load ran."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import redis

from bench.api_load.environment import BENCH_DB, BENCH_NAMESPACE, BENCH_REDIS_URL, admin_connect


@dataclass(frozen=True)
class Persisted:
    """What the window left behind: exact row and message counts (the state is reset before it)."""

    jobs_queued: int
    hold_entries: int
    job_logs: int
    wallet_held: int
    queued_messages: int


def read_persisted() -> Persisted:
    with admin_connect(BENCH_DB) as conn:
        jobs, holds, logs, held = conn.execute(
            "SELECT (SELECT count(*) FROM jobs_job WHERE status = 'QUEUED'),"
            " (SELECT count(*) FROM billing_ledgerentry WHERE kind = 'hold'),"
            " (SELECT count(*) FROM jobs_joblog),"
            " (SELECT coalesce(sum(held), 0) FROM billing_wallet)"
        ).fetchone()
    messages = redis.Redis.from_url(BENCH_REDIS_URL).hlen(f"{BENCH_NAMESPACE}:gpu.msgs")
    return Persisted(jobs, holds, logs, int(held), int(messages))


@dataclass
class ActivitySample:
    """Average number of the benchmark database's sessions in each state over the window."""

    samples: int = 0
    states: Counter = field(default_factory=Counter)
    # Sessions inside a write transaction (an xid: the wallet row is locked FOR UPDATE first) and
    # not waiting for a lock, i.e. holding it. Little's law: hold time = holders / throughput.
    holders: int = 0

    @property
    def mean_holders(self) -> float:
        return self.holders / self.samples if self.samples else 0.0

    def mean(self, key: str) -> float:
        return self.states[key] / self.samples if self.samples else 0.0

    def top(self, n: int = 6) -> list[tuple[str, float]]:
        return [(k, v / self.samples) for k, v in self.states.most_common(n)] if self.samples else []


class ActivitySampler:
    """Polls pg_stat_activity a few times a second in a thread (cheap next to the load)."""

    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval_s = interval_s
        self.result = ActivitySample()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ActivitySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with admin_connect() as conn:
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT state, wait_event_type, wait_event, backend_xid IS NOT NULL FROM pg_stat_activity "
                    "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
                    [BENCH_DB],
                ).fetchall()
                self.result.samples += 1
                for state, wait_type, wait_event, has_xid in rows:
                    if has_xid and wait_type != "Lock":
                        self.result.holders += 1
                    if state == "active" and wait_type:
                        key = f"active, waiting {wait_type}:{wait_event}"
                    elif state == "active":
                        key = "active, on CPU"
                    else:
                        key = state or "unknown"
                    self.result.states[key] += 1
                time.sleep(self.interval_s)
