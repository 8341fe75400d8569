"""INSERT of new model instances with the statement built once per process.

Why not ``QuerySet.bulk_create``: it compiles the INSERT anew on every call (an InsertQuery, the
compiler, a placeholder and a quoted name per column), and an accepted submission makes four of
them (job, job log, ledger hold, image hash): together ~29% of the web process's CPU per
submission in ``bench/api_load --profile``. Here the SQL is built from the model's metadata once
per (model, row count, options) and only the values are prepared per call.

The contract is bulk_create's for what these callers use: no ``save()``, no signals; each
field's ``pre_save(add=True)`` runs (``auto_now_add``, defaults of the primary key) and its
``get_db_prep_save`` prepares the value; an auto-increment primary key is read back where the
backend can return it (PostgreSQL, SQLite 3.35+); the instances are marked as saved. Refused
rather than half-supported: multi-table inheritance, generated fields, ``db_default``, field
placeholders other than ``%s`` and expressions as values.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from django.db import connections, router
from django.db.models import AutoField
from django.db.models.constants import OnConflict


@dataclass(frozen=True)
class _Statement:
    sql: str
    fields: tuple
    returns_pk: bool


@cache
def _statement(model, using: str, rows: int, with_pk: bool, ignore_conflicts: bool) -> _Statement:
    connection = connections[using]
    opts = model._meta
    if opts.parents:
        raise ValueError(f"{model.__name__}: multi-table inheritance is not supported")
    fields = [f for f in opts.concrete_fields if with_pk or not isinstance(f, AutoField)]
    for field in fields:
        if field.generated or field.has_db_default() or hasattr(field, "get_placeholder"):
            raise ValueError(f"{model.__name__}.{field.name}: not supported by inserts_new")
    quote = connection.ops.quote_name
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    row = f"({', '.join(['%s'] * len(fields))})"
    parts = [
        connection.ops.insert_statement(on_conflict=on_conflict),
        quote(opts.db_table),
        f"({', '.join(quote(f.column) for f in fields)})",
        "VALUES " + ", ".join([row] * rows),
    ]
    if ignore_conflicts:
        parts.append(connection.ops.on_conflict_suffix_sql(fields, on_conflict, None, None))
    returns_pk = not with_pk and not ignore_conflicts and connection.features.can_return_rows_from_bulk_insert
    if returns_pk:
        parts.append(f"RETURNING {quote(opts.pk.column)}")
    return _Statement(sql=" ".join(p for p in parts if p), fields=tuple(fields), returns_pk=returns_pk)


def inserts_new(objs: list, *, ignore_conflicts: bool = False) -> list:
    """Insert ``objs`` (new instances of one model) in one statement; returns them."""
    if not objs:
        return objs
    model, using, with_pk = _prepare(objs)
    connection = connections[using]
    statement = _statement(model, using, len(objs), with_pk, ignore_conflicts)
    params = _values(objs, statement.fields, connection)
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        if statement.returns_pk:
            for obj, (value,) in zip(objs, cursor.fetchall(), strict=True):
                setattr(obj, model._meta.pk.attname, value)
    _mark_saved(objs, using)
    return objs


def _prepare(objs: list) -> tuple[type, str, bool]:
    model = type(objs[0])
    if any(type(obj) is not model for obj in objs):
        raise ValueError("inserts_new takes instances of one model")
    using = router.db_for_write(model)
    pk = model._meta.pk
    for obj in objs:
        if obj.pk is None:
            obj.pk = pk.get_pk_value_on_save(obj)
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
    with_pk = [obj.pk is not None for obj in objs]
    if any(with_pk) and not all(with_pk):
        raise ValueError("inserts_new takes instances that all have, or all lack, a primary key")
    return model, using, with_pk[0]


def _values(objs: list, fields: tuple, connection) -> list:
    params = []
    for obj in objs:
        for field in fields:
            value = field.pre_save(obj, add=True)
            if hasattr(value, "resolve_expression"):
                raise ValueError(f"{type(obj).__name__}.{field.name}: expressions are not supported by inserts_new")
            params.append(field.get_db_prep_save(value, connection))
    return params


def _mark_saved(objs: list, using: str) -> None:
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using


# --- Inserts inside one data-modifying statement (PostgreSQL) ---------------------------------


@dataclass(frozen=True)
class Veto:
    """What stops a gated statement from writing anything: ``sql`` is a SELECT (PostgreSQL) that
    returns at most one row, of ``columns`` columns, when the statement must not go ahead, and
    ``refusal(row)`` the exception to raise for that row. ``billing.services.holds_place`` takes
    one: inside its one statement it is evaluated once, before the wallet row is locked, and
    costs no round trip of its own."""

    sql: str
    params: list
    columns: int
    refusal: Callable[[tuple], BaseException]


@dataclass
class NewRows:
    """New instances of one model for ``gated_insert``; ``ignore_conflicts`` as in bulk_create."""

    objs: list
    ignore_conflicts: bool = False


@dataclass
class GatedInsert:
    """One ``name AS (INSERT ...)`` clause of a ``WITH`` statement and its parameters. After the
    statement ran, ``finish(pks)`` marks the instances saved (``pks``: what ``returning`` read
    back, in row order, when the model's primary key is generated by the database)."""

    name: str
    sql: str
    params: list
    objs: list
    using: str
    returning: str | None

    def finish(self, pks: list | None = None) -> None:
        if self.returning is not None:
            if pks is None or len(pks) != len(self.objs):
                raise RuntimeError(f"{self.name}: expected {len(self.objs)} primary keys back, got {pks!r}")
            attname = type(self.objs[0])._meta.pk.attname
            for obj, value in zip(self.objs, pks, strict=True):
                setattr(obj, attname, value)
        _mark_saved(self.objs, self.using)


def _cast_type(field, connection) -> str:
    """The type a VALUES item is cast to: the column's, without a length (an explicit cast to
    varchar(n) would truncate silently, where the INSERT's assignment refuses a value too long)."""
    db_type = field.db_type(connection)
    if db_type is None:
        raise ValueError(f"{field.model.__name__}.{field.name}: no column type")
    return re.sub(r"^(varchar|char|character varying|character)\(\d+\)", r"\1", db_type)


@cache
def _gated_statement(
    model, using: str, rows: int, with_pk: bool, ignore_conflicts: bool, name: str, guard: str, from_guard: tuple
) -> tuple[str, tuple, str | None]:
    connection = connections[using]
    if connection.vendor != "postgresql":
        raise ValueError("gated_insert needs PostgreSQL (data-modifying WITH clauses)")
    insert = _statement(model, using, 1, with_pk, ignore_conflicts)
    fields = insert.fields
    quote = connection.ops.quote_name
    expressions = dict(from_guard)
    aliases = [f"c{i}" for i in range(len(fields))]
    row = "(" + ", ".join(f"%s::{_cast_type(field, connection)}" for field in fields) + ")"
    selected = []
    for field, alias in zip(fields, aliases, strict=True):
        expression = expressions.pop(field.attname, None) or expressions.pop(field.name, None)
        selected.append(expression.format(v=f"v.{alias}", g="g") if expression else f"v.{alias}")
    if expressions:
        raise ValueError(f"{model.__name__}: no columns {sorted(expressions)}")
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608 - names from the model
        f"SELECT {', '.join(selected)} FROM {guard} AS g, (VALUES {', '.join([row] * rows)}) AS v({', '.join(aliases)})"
    )
    if ignore_conflicts:
        sql += " " + connection.ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None)
    returning = None
    if insert.returns_pk:
        returning = quote(model._meta.pk.column)
        sql += f" RETURNING {returning}"
    return f"{name} AS ({sql})", fields, returning


def gated_insert(
    objs: list, *, name: str, guard: str, from_guard: dict[str, str] | None = None, ignore_conflicts: bool = False
) -> GatedInsert:
    """An INSERT of ``objs`` for a ``WITH`` clause named ``name``, whose rows exist only if the
    clause ``guard`` (a data-modifying one, typically ``UPDATE ... RETURNING``) returned a row:
    the values are cross-joined with it, so when the guard changes nothing nothing is inserted.

    ``from_guard`` maps field names to SQL expressions that replace the instance's value, over
    ``{g}`` (the guard's row) and ``{v}`` (this column's value from the instance), e.g.
    ``{"wallet": "{g}.id", "held_after": "{g}.held - {v}"}``. Same contract as ``inserts_new``
    otherwise; the statement is built once per shape and process."""
    if not objs:
        raise ValueError("gated_insert needs at least one instance")
    model, using, with_pk = _prepare(objs)
    connection = connections[using]
    clause, fields, returning = _gated_statement(
        model, using, len(objs), with_pk, ignore_conflicts, name, guard, tuple(sorted((from_guard or {}).items()))
    )
    return GatedInsert(
        name=name,
        sql=clause,
        params=_values(objs, fields, connection),
        objs=objs,
        using=using,
        returning=returning,
    )
