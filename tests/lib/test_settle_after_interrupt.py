"""lib.db.settle_after_interrupt: a connection an interrupt left mid-command is replaced, and
only then."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from lib.db import settle_after_interrupt


def _one() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_an_idle_connection_is_kept():
    _one()
    raw = connection.connection

    assert settle_after_interrupt(connection) is False
    assert connection.connection is raw


@pytest.mark.django_db(transaction=True)
def test_a_connection_waiting_on_an_unread_answer_is_replaced_and_the_next_query_works():
    _one()
    raw = connection.connection
    raw.pgconn.send_query(b"SELECT pg_sleep(0.05)")

    assert settle_after_interrupt(connection) is True
    assert raw.closed
    assert _one() == 1
    assert connection.connection is not raw


@pytest.mark.django_db(transaction=True)
def test_inside_an_atomic_block_the_connection_is_left_to_the_block():
    with transaction.atomic():
        _one()
        assert settle_after_interrupt(connection) is False
        assert _one() == 1


@pytest.mark.django_db(transaction=True)
def test_a_connection_never_opened_is_nothing_to_settle():
    connection.close()
    assert settle_after_interrupt(connection) is False
