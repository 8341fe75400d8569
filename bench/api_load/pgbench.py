"""The bare-database figure: pgbench replaying the submission's transaction.

The script is the captured transaction (``BEGIN``, every statement the request ran inside
``transaction.atomic``, ``COMMIT``) with each value that must be unique per submission (the
job's UUID, and anything built from it such as the ledger idempotency key) replaced by an
expression over two pgbench random variables. Everything else (timestamps, prices, ids of the
organization and wallet) is replayed as captured, so pgbench takes the same row lock, runs the
same count and writes the same rows.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from bench.api_load.capture import UUID_RE
from bench.api_load.environment import BENCH_DB, PG_HOST, PG_PORT, PG_USER

_LITERAL = re.compile(r"'((?:[^']|'')*)'(::[a-z_0-9]+(?:\[\])?)?")
_RANDOM_MAX = 2**62


def pgbench_path() -> str | None:
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    return candidates[-1] if candidates else None


# The least SQL an admission needs: the job row, the hold on the wallet row, the ledger entry.
MINIMAL_TABLES = ("jobs_job", "billing_wallet", "billing_ledgerentry")


def minimal_admission(transaction: list[str]) -> list[str]:
    """Of the captured transaction, exactly the three statements an admission cannot do
    without, in the order the service runs them: INSERT the job, UPDATE the wallet (the
    conditional hold), INSERT the ledger entry. Anything else (the job's log line) is left out,
    so pgbench measures the bare database's ceiling for this admission on the same tables."""
    wanted = []
    for table in MINIMAL_TABLES:
        verb = "UPDATE" if table == "billing_wallet" else "INSERT INTO"
        found = [sql for sql in transaction if sql.lstrip().upper().startswith(verb) and f'"{table}"' in sql[:80]]
        if len(found) != 1:
            raise RuntimeError(f"expected one {verb} {table} in the captured transaction, found {len(found)}")
        wanted.append(found[0])
    return wanted


def build_script(transaction: list[str], *, known_uuids: set[str]) -> str:
    """A pgbench script from the captured statements; UUIDs not in ``known_uuids`` are per-run."""
    fresh: list[str] = []
    for sql in transaction:
        for found in UUID_RE.findall(sql):
            if found not in known_uuids and found not in fresh:
                fresh.append(found)
    lines = [f"\\set u{i}a random(0, {_RANDOM_MAX})\n\\set u{i}b random(0, {_RANDOM_MAX})" for i in range(len(fresh))]
    lines.append("BEGIN;")
    lines += [_templatize(sql, fresh).rstrip().rstrip(";") + ";" for sql in transaction]
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def _uuid_expr(index: int, *, hyphenated: bool) -> str:
    hex32 = f"lpad(to_hex(:u{index}a),16,'0')||lpad(to_hex(:u{index}b),16,'0')"
    return f"({hex32})::uuid::text" if hyphenated else f"({hex32})"


def _templatize(sql: str, fresh: list[str]) -> str:
    if not fresh:
        return sql
    forms = {}
    for i, value in enumerate(fresh):
        forms[value] = _uuid_expr(i, hyphenated=True)
        forms[value.replace("-", "")] = _uuid_expr(i, hyphenated=False)
    pattern = re.compile("|".join(re.escape(k) for k in sorted(forms, key=len, reverse=True)))

    def literal(match: re.Match) -> str:
        content, cast = match.group(1), match.group(2) or ""
        if not pattern.search(content):
            return match.group(0)
        parts: list[str] = []
        pos = 0
        for found in pattern.finditer(content):
            if found.start() > pos:
                parts.append("'" + content[pos : found.start()] + "'")
            parts.append(forms[found.group(0)])
            pos = found.end()
        if pos < len(content):
            parts.append("'" + content[pos:] + "'")
        return "(" + " || ".join(parts) + ")" + cast

    return _LITERAL.sub(literal, sql)


@dataclass
class PgbenchResult:
    tps: float
    transactions: int
    failed: int
    latency_ms: dict[str, float]
    per_statement_ms: list[tuple[float, str]] = field(default_factory=list)
    pid: int = 0


def run_pgbench(scripts: list[str], *, concurrency: int, duration_s: int, on_start=None) -> PgbenchResult:
    exe = pgbench_path()
    if exe is None:
        raise RuntimeError("pgbench not found (Debian: apt-get install -y postgresql-client)")
    with tempfile.TemporaryDirectory(prefix="bench-pgbench-") as tmp:
        script_args: list[str] = []
        for index, script in enumerate(scripts):
            script_path = Path(tmp) / f"submission-{index}.sql"
            script_path.write_text(script)
            # Equal weights: each transaction picks one tenant's script at random.
            script_args += ["-f", f"{script_path}@1"]
        cmd = [
            exe,
            "-h", PG_HOST, "-p", str(PG_PORT), "-U", PG_USER,
            "-n",  # no vacuum of the pgbench_* tables: there are none
            "-M", "simple",
            "-c", str(concurrency),
            "-j", str(min(concurrency, 2)),
            "-T", str(duration_s),
            "-r",
            "-l", "--log-prefix", str(Path(tmp) / "tx"),
            *script_args,
            BENCH_DB,
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if on_start:
            on_start(proc.pid)
        out, err = proc.communicate(timeout=duration_s + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench failed (rc={proc.returncode}):\n{err.strip()}\n{out.strip()[-2000:]}")
        latencies = sorted(_logged_latencies_us(Path(tmp)))
    return _parse(out, latencies, proc.pid)


def _logged_latencies_us(folder: Path) -> list[int]:
    values: list[int] = []
    for log in folder.glob("tx.*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                values.append(int(fields[2]))
    return values


def _parse(out: str, latencies_us: list[int], pid: int) -> PgbenchResult:
    tps = float(re.search(r"tps = ([\d.]+) \(without initial connection time\)", out).group(1))
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    per_statement: list[tuple[float, str]] = []
    in_statements = False
    for line in out.splitlines():
        if "statement latencies in milliseconds" in line:
            in_statements = True
            continue
        match = re.match(r"\s+([\d.]+)\s+(?:\d+\s+)?(.*)$", line) if in_statements else None
        if match:
            per_statement.append((float(match.group(1)), match.group(2)))

    def pct(p: float) -> float:
        if not latencies_us:
            return 0.0
        return latencies_us[min(len(latencies_us) - 1, int(p / 100 * len(latencies_us)))] / 1000

    return PgbenchResult(
        tps=tps,
        transactions=int(processed.group(1)) if processed else len(latencies_us),
        failed=int(failed.group(1)) if failed else 0,
        latency_ms={"p50": pct(50), "p90": pct(90), "p99": pct(99)},
        per_statement_ms=per_statement,
        pid=pid,
    )
