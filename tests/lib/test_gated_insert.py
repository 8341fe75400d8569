"""lib.inserts.gated_insert and lib.db.prepared_cursor: the pieces of the one-statement admission."""

from __future__ import annotations

import pytest
from django.db import DataError, IntegrityError, connection, transaction

from billing.models import Plan
from lib.db import native_placeholders, prepared_cursor
from lib.inserts import gated_insert

pytestmark = pytest.mark.django_db


def run(guard_sql: str, guard_params: list, *clauses):
    sql = (
        f"WITH w AS ({guard_sql}), "
        + ", ".join(c.sql for c in clauses)
        + " SELECT 1"
        + "".join(f", ARRAY(SELECT {c.returning} FROM {c.name})" for c in clauses if c.returning)
        + " FROM w"
    )
    params = [*guard_params, *(p for c in clauses for p in c.params)]
    with prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is not None:
        returned = iter(row[1:])
        for clause in clauses:
            clause.finish(next(returned) if clause.returning else None)
    return row


def test_rows_are_written_only_when_the_guard_returns_a_row():
    plan = Plan(code="p-gated", name="Gated", max_jobs_in_flight=3)
    assert run("SELECT 1 AS id WHERE false", [], gated_insert([plan], name="p", guard="w")) is None
    assert not Plan.objects.filter(code="p-gated").exists()
    assert plan._state.adding and plan.pk is None

    row = run("SELECT 1 AS id", [], gated_insert([plan], name="p", guard="w"))
    assert row[0] == 1
    stored = Plan.objects.get(code="p-gated")
    assert stored.pk == plan.pk and stored.max_jobs_in_flight == 3 and stored.requests_per_minute == 120
    assert not plan._state.adding


def test_auto_primary_keys_come_back_in_row_order_and_columns_can_come_from_the_guard():
    plans = [Plan(code=f"p-{i}", name=f"plan {i}") for i in range(3)]
    run(
        "SELECT %s::varchar AS note",
        ["from the guard"],
        gated_insert(plans, name="p", guard="w", from_guard={"name": "{g}.note || ' / ' || {v}"}),
    )
    assert [Plan.objects.get(pk=plan.pk).code for plan in plans] == ["p-0", "p-1", "p-2"]
    assert Plan.objects.get(code="p-2").name == "from the guard / plan 2"


def test_a_value_too_long_for_its_column_is_refused_not_truncated():
    plan = Plan(code="x" * 41, name="Too long a code")  # code is a varchar(40)
    with pytest.raises(DataError), transaction.atomic():
        run("SELECT 1 AS id", [], gated_insert([plan], name="p", guard="w"))
    assert not Plan.objects.filter(name="Too long a code").exists()


def test_a_unique_violation_writes_nothing():
    run("SELECT 1 AS id", [], gated_insert([Plan(code="p-taken", name="First")], name="p", guard="w"))
    other = Plan(code="p-other", name="Other")
    again = Plan(code="p-taken", name="Again")
    with pytest.raises(IntegrityError), transaction.atomic():
        run(
            "SELECT 1 AS id", [], gated_insert([other], name="a", guard="w"), gated_insert([again], name="b", guard="w")
        )
    assert not Plan.objects.filter(code="p-other").exists()
    assert Plan.objects.get(code="p-taken").name == "First"


def test_unknown_columns_in_from_guard_are_refused():
    with pytest.raises(ValueError, match="no columns"):
        gated_insert([Plan(code="p-x", name="X")], name="p", guard="w", from_guard={"nope": "{g}.id"})


def test_native_placeholders():
    assert native_placeholders("SELECT %s, %s WHERE a LIKE 'x%%'") == "SELECT $1, $2 WHERE a LIKE 'x%'"


def test_hot_statements_are_prepared_once_per_connection_and_seen_by_execute_wrappers(settings):
    seen = []

    def record(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    statement = "SELECT %s::int + 1 AS lib_db_test"
    with connection.execute_wrapper(record):
        for value in (1, 2, 3):
            with prepared_cursor(connection) as cursor:
                cursor.execute(statement, [value])
                assert cursor.fetchone() == (value + 1,)
    assert seen == [statement] * 3
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%lib_db_test%%'")
        assert cursor.fetchone() == (1,)

    settings.DB_PREPARE_HOT_STATEMENTS = False
    with prepared_cursor(connection) as cursor:
        cursor.execute("SELECT %s::int AS lib_db_unprepared", [5])
        assert cursor.fetchone() == (5,)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%%lib_db_unprepared%%'")
        assert cursor.fetchone() == (0,)
