"""Hostile HTTP peers on local sockets: each behaviour is a function of the accepted connection.

The peers never finish on their own (they drip or stall until the test releases them), so a
client without a real deadline would hang the test: the bound is what makes it return.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

Behaviour = Callable[[socket.socket, threading.Event], None]


@contextlib.contextmanager
def hostile_server(behaviour: Behaviour) -> Iterator[str]:
    """Serve ``behaviour`` on 127.0.0.1 (a random port) until the block ends; yields the base URL."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    release = threading.Event()
    threads: list[threading.Thread] = []

    def accept_loop() -> None:
        while not release.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=_run, args=(behaviour, conn, release), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept_loop, daemon=True)
    acceptor.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        release.set()
        acceptor.join(timeout=2)
        listener.close()
        for thread in threads:
            thread.join(timeout=2)


def _run(behaviour: Behaviour, conn: socket.socket, release: threading.Event) -> None:
    with contextlib.suppress(OSError), conn:
        behaviour(conn, release)


def read_request(conn: socket.socket) -> bytes:
    """Read up to the end of the request head (and whatever body came with it)."""
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def drip(conn: socket.socket, release: threading.Event, data: bytes, *, every_s: float = 0.1) -> None:
    for byte in data:
        if release.wait(every_s):
            return
        conn.sendall(bytes([byte]))


def drip_headers(conn: socket.socket, release: threading.Event) -> None:
    """Status line and endless headers, one byte per 0.1 s: each read is quick, the whole never ends."""
    read_request(conn)
    drip(conn, release, b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"a" * 100_000)


def drip_body(conn: socket.socket, release: threading.Event) -> None:
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n")
    drip(conn, release, b"\x89" * 100_000)


def stall_after_connect(conn: socket.socket, release: threading.Event) -> None:
    """Accept and then say nothing, not even read the request."""
    release.wait(60)


def slow_redirect(delay_s: float, location: str) -> Behaviour:
    """Each hop answers well inside the deadline, the chain as a whole does not."""

    def behaviour(conn: socket.socket, release: threading.Event) -> None:
        read_request(conn)
        if release.wait(delay_s):
            return
        conn.sendall(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())
        release.wait(5)

    return behaviour


def run_bounded(call: Callable[[], object], *, within_s: float):
    """Run ``call`` on a thread; fail if it has not returned after ``within_s`` (a generous bound,
    many times the deadline under test, so that a hang is told from a slow machine)."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            # This thread's own database connection, or the test database cannot be dropped.
            from django.db import connections

            connections.close_all()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(within_s)
    assert not thread.is_alive(), f"the call was still running after {within_s} s: the deadline did not hold"
    return outcome
