"""A cursor for the few statements on the request's hot path that run thousands of times an hour
with the same text: on PostgreSQL it binds parameters on the server and prepares the statement
on the connection the first time (psycopg's ``execute(..., prepare=True)``), so later executions
skip parsing and planning there and quoting every value here.

Why not ``OPTIONS={"server_side_binding": True, "prepare_threshold": ...}`` for the whole
project: Django documents that server-side binding changes how some queries are typed (a
parameter PostgreSQL cannot infer fails), and prepared statements do not survive a connection
pooler in transaction mode; for two statements built once per process with explicit types the
trade is clear, for every ORM query it is not. A deployment behind such a pooler turns this off
with ``DB_PREPARE_HOT_STATEMENTS=false``.

The cursor is Django's own wrapper around a psycopg server-binding cursor of the same
connection, so ``connection.execute_wrapper``, the debug cursor (``assertNumQueries``), error
translation and broken-transaction checks all see these statements like any other. On another
database (SQLite), it is the ordinary cursor.
"""

from __future__ import annotations

import functools
import re

from django.conf import settings
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

_ONLY_WHEN_ASKED = 2**62


class _Preparing:
    # Django's CursorWrapper._execute (its hook for the actual execute, under the wrappers), with
    # prepare=True, the statement in PostgreSQL's own $n placeholders, and the connection's own
    # psycopg cursor for that statement.
    def _execute(self, sql, params, *ignored_wrapper_args):
        self.db.validate_no_broken_transaction()
        native = native_placeholders(sql)
        self.cursor = _statement_cursor(self.db, native)
        with self.db.wrap_database_errors:
            return self.cursor.execute(native, params, prepare=True)

    def __exit__(self, type, value, traceback):
        # The psycopg cursor stays open for the connection's next execution of the statement.
        return None


_MAX_CURSORS = 16


def _statement_cursor(connection, native_sql: str):
    """One psycopg RawCursor per (connection, statement), kept: a cursor builds its adapters map
    and, for each new query text, its value dumpers anew (~5% of a submission when every call
    made its own cursor)."""
    import psycopg

    raw = connection.connection
    kept = connection.__dict__.get("_lib_db_cursors")
    if kept is None or kept[0] is not raw:
        kept = (raw, {})
        connection._lib_db_cursors = kept
    cursors = kept[1]
    cursor = cursors.get(native_sql)
    if cursor is None or cursor.closed:
        if len(cursors) >= _MAX_CURSORS:
            cursors.clear()
        cursor = cursors[native_sql] = psycopg.RawCursor(raw)
    return cursor


@functools.lru_cache(maxsize=64)
def native_placeholders(sql: str) -> str:
    """``%s`` -> ``$1, $2, ...`` and ``%%`` -> ``%``, once per statement text.

    The statements are psycopg's RawCursor's: psycopg parses a ``%s`` query on every execute and
    caches that only for statements under 4 KiB and 50 parameters, which the admission (every
    column of a job, its log line, hash and ledger entry) is not; parsing it was 14% of the web
    process's time per submission. Only for statements built by this project (no quoted text
    containing ``%``)."""
    counter = iter(range(1, sql.count("%s") + 1))
    return re.sub(r"%[s%]", lambda m: f"${next(counter)}" if m.group(0) == "%s" else "%", sql)


class _PreparingCursor(_Preparing, CursorWrapper):
    pass


class _PreparingDebugCursor(_Preparing, CursorDebugWrapper):
    pass


def prepared_cursor(connection):
    """A cursor (use it as a context manager) whose statements are prepared on PostgreSQL."""
    if connection.vendor != "postgresql" or not getattr(settings, "DB_PREPARE_HOT_STATEMENTS", True):
        return connection.cursor()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    if connection.connection.prepare_threshold is None:
        # Django turns psycopg's prepared statements off (None ignores even prepare=True). A
        # threshold no statement reaches turns them on for prepare=True only: Django's own
        # cursors bind on the client and never prepare.
        connection.connection.prepare_threshold = _ONLY_WHEN_ASKED
    wrapper = _PreparingDebugCursor if connection.queries_logged else _PreparingCursor
    return wrapper(None, connection)  # its psycopg cursor is chosen by the statement it runs


def settle_after_interrupt(connection) -> bool:
    """Close ``connection`` if an asynchronous interrupt left it in the middle of a command.

    Dramatiq raises ``Shutdown`` and ``TimeLimitExceeded`` into a worker thread: they can land
    inside the driver after a query was sent and before its answer was read. psycopg cancels
    the command for ``KeyboardInterrupt`` and ``SystemExit`` only; after any other interrupt the
    connection stays busy and every later query fails ("another command is already in
    progress"), so the handler could not record what happened to the job. Closed, Django opens
    a fresh connection for the next query. Left alone inside an atomic block (closing would
    break the caller's transaction; Django's atomic exit drops a connection whose rollback
    fails) and on databases whose driver keeps no such state (SQLite). Returns whether it
    closed the connection.
    """
    raw = connection.connection
    info = getattr(raw, "info", None)
    if raw is None or info is None or connection.in_atomic_block:
        return False
    from psycopg.pq import TransactionStatus

    if info.transaction_status == TransactionStatus.IDLE:
        return False
    connection.close()
    return True
