"""The SQL one accepted submission really issues, captured from a request run in this process.

The second of two requests is recorded (the first opens connections). It goes through Django's test client (same settings, same database as the server), with
an ``execute_wrapper`` recording every statement and whether it ran inside the transaction
(``connection.in_atomic_block``). The transaction's statements become the pgbench script.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Statement:
    sql: str  # rendered with its parameters, as the server received it
    in_transaction: bool


@dataclass
class Capture:
    status_code: int
    body: bytes
    statements: list[Statement] = field(default_factory=list)
    media_files_written: int = 0
    # Each write to a Redis socket is one round trip; a pipeline carries several commands.
    redis_round_trips: list[list[str]] = field(default_factory=list)

    @property
    def transaction(self) -> list[str]:
        return [s.sql for s in self.statements if s.in_transaction]

    @property
    def outside_transaction(self) -> list[str]:
        return [s.sql for s in self.statements if not s.in_transaction]

    def request_id(self) -> str | None:
        try:
            return json.loads(self.body)["request_id"]
        except (ValueError, KeyError, TypeError):
            return None


def capture_submission(*, path: str, body: bytes, headers: dict[str, str]) -> Capture:
    from django.db import connection
    from django.test import Client

    raw: list[tuple[str, object, bool, bool]] = []

    def record(execute, sql, params, many, context):
        raw.append((sql, params, many, connection.in_atomic_block))
        return execute(sql, params, many, context)

    client = Client()
    content_type = headers.get("Content-Type", "application/json")
    extra = {k: v for k, v in headers.items() if k.lower() != "content-type"}
    # A first submission opens this process's database and Redis connections and stamps the
    # key's last_used_at, so the recorded one is what a warm server process does per request.
    first = client.post(path, data=body, content_type=content_type, headers=extra)
    if first.status_code != 202:
        return Capture(status_code=first.status_code, body=first.content)
    before = _count_media_files()
    with connection.execute_wrapper(record), _redis_recorder() as round_trips:
        response = client.post(path, data=body, content_type=content_type, headers=extra)
    capture = Capture(status_code=response.status_code, body=response.content, redis_round_trips=round_trips)
    capture.media_files_written = _count_media_files() - before
    for sql, params, many, in_tx in raw:
        for one in params if many else [params]:
            capture.statements.append(Statement(sql=_render(connection, sql, one), in_transaction=in_tx))
    return capture


_RESP_COMMAND = re.compile(rb"\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n")


@contextlib.contextmanager
def _redis_recorder():
    """Record the commands of every round trip redis-py makes (rate limiter, broker)."""
    from redis.connection import AbstractConnection

    original = AbstractConnection.send_packed_command
    trips: list[list[str]] = []

    def send_packed_command(self, command, check_health=True):
        chunks = [command] if isinstance(command, (str, bytes)) else list(command)
        data = b"".join(c.encode() if isinstance(c, str) else bytes(c) for c in chunks)
        trips.append([m.decode().upper() for m in _RESP_COMMAND.findall(data)])
        return original(self, command, check_health=check_health)

    AbstractConnection.send_packed_command = send_packed_command
    try:
        yield trips
    finally:
        AbstractConnection.send_packed_command = original


def _render(connection, sql: str, params) -> str:
    if not params:
        return sql.replace("%%", "%")
    return connection.ops.compose_sql(sql, params)


def _count_media_files() -> int:
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.MEDIA_ROOT)
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def shape(sql: str, width: int = 110) -> str:
    """A statement shortened for the report: the verb and the table, literals elided."""
    text = re.sub(r"'(?:[^']|'')*'(::\w+)?", "'…'", sql)
    text = re.sub(r"SELECT .*? FROM", "SELECT … FROM", text, count=1)
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= width else text[: width - 1] + "…"
