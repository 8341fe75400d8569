"""The server under test: gunicorn serving config.wsgi on 127.0.0.1, and nothing consuming the queue."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ServerConfig:
    worker_class: str  # "sync" or "gthread"
    workers: int
    threads: int = 1

    @property
    def label(self) -> str:
        if self.worker_class == "sync":
            return f"sync x{self.workers}"
        return f"{self.worker_class} {self.workers}x{self.threads}"

    @classmethod
    def parse(cls, text: str) -> ServerConfig:
        """``sync:4`` or ``gthread:2x8``."""
        kind, _, size = text.partition(":")
        if kind == "sync":
            return cls("sync", int(size or 4))
        if kind == "gthread":
            workers, _, threads = (size or "2x8").partition("x")
            return cls("gthread", int(workers), int(threads or 8))
        raise ValueError(f"unknown server config {text!r} (use sync:N or gthread:WxT)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    def __init__(
        self, config: ServerConfig, environ: dict[str, str], log_path: Path, *, app: str = "config.wsgi"
    ) -> None:
        self.config = config
        self.app = app
        self.port = free_port()
        self.log_path = log_path
        self._environ = {**os.environ, **environ}
        self.proc: subprocess.Popen | None = None

    def start(self, *, timeout_s: float = 60.0) -> None:
        cmd = [
            # The gunicorn of the environment running the bench (the project's .venv, or another
            # interpreter's environment being compared).
            str(Path(sys.executable).parent / "gunicorn"),
            self.app,
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.config.workers),
            "--worker-class",
            self.config.worker_class,
            "--threads",
            str(self.config.threads),
            "--backlog",
            "2048",
            "--keep-alive",
            "30",
            "--preload",
            "--log-level",
            "warning",
            "--error-logfile",
            str(self.log_path),
        ]
        if self.app != "config.wsgi":
            # Another application (the floor) runs without the project's gunicorn.conf.py, which
            # sets up Django in the master: its own module is the configuration (it sets nothing).
            cmd += ["--config", f"python:{self.app.partition(':')[0]}"]
        self.proc = subprocess.Popen(
            cmd, cwd=REPO_ROOT, env=self._environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.proc.returncode}; see {self.log_path}:\n{self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                    if sock.recv(16).startswith(b"HTTP/1."):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {timeout_s:.0f}s; see {self.log_path}")

    def pids(self) -> list[int]:
        """The master and its workers."""
        if self.proc is None:
            return []
        children: list[int] = []
        with contextlib.suppress(OSError):
            children = [
                int(p) for p in Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
            ]
        return [self.proc.pid, *children]

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
