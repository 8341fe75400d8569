"""Closed-loop HTTP load at a fixed concurrency: wrk when installed, else a raw asyncio client.

Both generators keep ``concurrency`` connections busy for ``duration`` seconds (a new request is
sent as soon as the previous answer on that connection has been read), count answers by status
code and report latency percentiles. Requests only go to 127.0.0.1.

The Python generator runs in its own process (``python -m bench.api_load.loadgen SPEC.json``)
so that it does not share an interpreter with the orchestrator, and speaks HTTP/1.1 over
``asyncio.open_connection`` with pre-built request bytes: no HTTP library on the hot path.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HOST = "127.0.0.1"


@dataclass(frozen=True)
class LoadSpec:
    port: int
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    concurrency: int
    duration_s: float
    # One header whose value changes between requests (the subscription key when several tenants
    # are driven): wrk cycles through the values, the Python generator gives each connection one.
    rotate_header: str = ""
    rotate_values: tuple[str, ...] = ()
    # Upper bound on requests, so a misbehaving server cannot make the run unbounded in count.
    max_requests: int = 10_000_000
    timeout_s: float = 10.0


@dataclass
class LoadResult:
    generator: str
    duration_s: float
    requests: int
    status_counts: dict[str, int]
    errors: dict[str, int]
    latency_ms: dict[str, float]  # p50, p90, p99, max, mean
    pids: list[int] = field(default_factory=list)

    def count(self, status: int) -> int:
        return self.status_counts.get(str(status), 0)

    def rate(self, status: int) -> float:
        return self.count(status) / self.duration_s if self.duration_s else 0.0


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_load(spec: LoadSpec, *, prefer: str = "auto", on_start=None) -> LoadResult:
    """Run the load and return its figures; ``on_start(pid)`` is called once the generator runs."""
    use_wrk = prefer == "wrk" or (prefer == "auto" and wrk_path() is not None)
    if use_wrk and wrk_path() is None:
        raise RuntimeError("wrk was asked for but is not installed (apt-get install -y wrk)")
    return _run_wrk(spec, on_start) if use_wrk else _run_python(spec, on_start)


# --- wrk ------------------------------------------------------------------------------------

_WRK_LUA = r"""
-- Written by bench.api_load: one fixed request, answers counted per status code.
local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.method = os.getenv("BENCH_METHOD")
wrk.path = os.getenv("BENCH_PATH")
local hf = assert(io.open(os.getenv("BENCH_HEADERS_FILE"), "rb"))
for line in hf:lines() do
  local name, value = line:match("^([^:]+): (.*)$")
  if name then wrk.headers[name] = value end
end
hf:close()

local rotate_name = os.getenv("BENCH_ROTATE_HEADER")
local rotate_values = {}
if rotate_name ~= "" then
  local rf = assert(io.open(os.getenv("BENCH_ROTATE_FILE"), "rb"))
  for line in rf:lines() do
    if line ~= "" then table.insert(rotate_values, line) end
  end
  rf:close()
end
if #rotate_values > 1 then
  -- Defined only when needed: without request(), wrk sends one pre-built request (cheaper).
  local index = 0
  function request()
    index = index % #rotate_values + 1
    wrk.headers[rotate_name] = rotate_values[index]
    return wrk.format()
  end
elseif #rotate_values == 1 then
  wrk.headers[rotate_name] = rotate_values[1]
end

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
end

function response(status, headers, body)
  local key = tostring(status)
  counts[key] = (counts[key] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for k, v in pairs(c) do total[k] = (total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, string.format('"%s": %d', k, v)) end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us": %d, "requests": %d, "status_counts": {%s}, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %f}}\n',
    summary.duration, summary.requests, table.concat(parts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def _run_wrk(spec: LoadSpec, on_start) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        tmpdir = Path(tmp)
        (tmpdir / "script.lua").write_text(_WRK_LUA)
        (tmpdir / "body").write_bytes(spec.body)
        (tmpdir / "headers").write_text("".join(f"{k}: {v}\n" for k, v in spec.headers.items()))
        (tmpdir / "rotate").write_text("".join(f"{v}\n" for v in spec.rotate_values))
        env = {
            "BENCH_BODY_FILE": str(tmpdir / "body"),
            "BENCH_HEADERS_FILE": str(tmpdir / "headers"),
            "BENCH_ROTATE_HEADER": spec.rotate_header if spec.rotate_values else "",
            "BENCH_ROTATE_FILE": str(tmpdir / "rotate"),
            "BENCH_METHOD": spec.method,
            "BENCH_PATH": spec.path,
            "PATH": "/usr/bin:/bin",
        }
        # One thread: wrk's event loop answers tens of thousands of requests a second on one
        # core, and every cycle it does not take is left to the server under test.
        cmd = [
            wrk_path() or "wrk",
            "-t1",
            f"-c{spec.concurrency}",
            f"-d{max(1, round(spec.duration_s))}s",
            f"--timeout={max(1, round(spec.timeout_s))}s",
            "-s",
            str(tmpdir / "script.lua"),
            f"http://{HOST}:{spec.port}{spec.path}",
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if on_start:
            on_start(proc.pid)
        out, err = proc.communicate(timeout=spec.duration_s + spec.timeout_s + 30)
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (rc={proc.returncode}): {err.strip() or out.strip()}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    lat = data["latency_us"]
    return LoadResult(
        generator="wrk",
        duration_s=data["duration_us"] / 1e6,
        requests=data["requests"],
        status_counts=data["status_counts"],
        errors={k: v for k, v in data["errors"].items() if v},
        latency_ms={k: lat[k] / 1000.0 for k in ("p50", "p90", "p99", "max", "mean")},
        pids=[proc.pid],
    )


# --- the Python generator -------------------------------------------------------------------


def _run_python(spec: LoadSpec, on_start) -> LoadResult:
    payload = asdict(spec)
    payload["body"] = spec.body.decode("latin-1")
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="bench-load-", delete=False) as fh:
        json.dump(payload, fh)
        spec_file = fh.name
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.api_load.loadgen", spec_file],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if on_start:
            on_start(proc.pid)
        out, err = proc.communicate(timeout=spec.duration_s + spec.timeout_s + 30)
    finally:
        Path(spec_file).unlink(missing_ok=True)
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"load generator failed (rc={proc.returncode}): {err.strip()}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return LoadResult(pids=[proc.pid], **data)


def _request_bytes(spec: LoadSpec, rotate_value: str | None = None) -> list[bytes] | bytes:
    if rotate_value is None and spec.rotate_values:
        return [_request_bytes(spec, value) for value in spec.rotate_values]
    lines = [f"{spec.method} {spec.path} HTTP/1.1", f"Host: {HOST}:{spec.port}"]
    lines += [f"{k}: {v}" for k, v in spec.headers.items()]
    if rotate_value is not None:
        lines.append(f"{spec.rotate_header}: {rotate_value}")
    if spec.body or spec.method in {"POST", "PUT", "PATCH"}:
        lines.append(f"Content-Length: {len(spec.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + spec.body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return (status, keep_alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, _, header_block = head.partition(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = None
    chunked = False
    keep_alive = status_line.startswith(b"HTTP/1.1")
    for raw in header_block.split(b"\r\n"):
        name, _, value = raw.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection":
            keep_alive = value.strip().lower() == b"keep-alive"
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length is not None:
        await reader.readexactly(length)
    else:
        await reader.read()  # body runs to the end of the connection
        keep_alive = False
    return status, keep_alive


async def _drive(spec: LoadSpec) -> dict:
    built = _request_bytes(spec)
    requests = built if isinstance(built, list) else [built]
    latencies: list[int] = []
    status_counts: dict[str, int] = {}
    errors: dict[str, int] = {}
    start = time.perf_counter()
    budget = [spec.max_requests]

    async def connection_loop(request: bytes) -> None:
        reader = writer = None
        try:
            while budget[0] > 0:
                budget[0] -= 1
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(HOST, spec.port)
                    t0 = time.perf_counter_ns()
                    writer.write(request)
                    status, keep_alive = await asyncio.wait_for(_read_response(reader), spec.timeout_s)
                    latencies.append(time.perf_counter_ns() - t0)
                    key = str(status)
                    status_counts[key] = status_counts.get(key, 0) + 1
                except (
                    OSError,
                    asyncio.IncompleteReadError,
                    asyncio.LimitOverrunError,
                    TimeoutError,
                    ValueError,
                ) as exc:
                    name = type(exc).__name__
                    errors[name] = errors.get(name, 0) + 1
                    keep_alive = False
                if not keep_alive and writer is not None:
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()

    # Like wrk: answers count until the deadline; requests still in flight then are abandoned.
    tasks = [asyncio.create_task(connection_loop(requests[i % len(requests)])) for i in range(spec.concurrency)]
    await asyncio.wait(tasks, timeout=spec.duration_s)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    elapsed = min(time.perf_counter() - start, spec.duration_s)
    latencies.sort()
    return {
        "generator": "python-asyncio",
        "duration_s": elapsed,
        "requests": len(latencies),
        "status_counts": status_counts,
        "errors": errors,
        "latency_ms": _percentiles_ms(latencies),
    }


def _percentiles_ms(sorted_ns: list[int]) -> dict[str, float]:
    if not sorted_ns:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}

    def pct(p: float) -> float:
        return sorted_ns[min(len(sorted_ns) - 1, int(p / 100 * len(sorted_ns)))] / 1e6

    return {
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "max": sorted_ns[-1] / 1e6,
        "mean": sum(sorted_ns) / len(sorted_ns) / 1e6,
    }


def _main(spec_file: str) -> None:
    raw = json.loads(Path(spec_file).read_text())
    raw["body"] = raw["body"].encode("latin-1")
    raw["rotate_values"] = tuple(raw["rotate_values"])
    spec = LoadSpec(**raw)
    result = asyncio.run(_drive(spec))
    print("BENCH_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    _main(sys.argv[1])
