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
    model = type(objs[0])
    if any(type(obj) is not model for obj in objs):
        raise ValueError("inserts_new takes instances of one model")
    using = router.db_for_write(model)
    connection = connections[using]
    pk = model._meta.pk
    for obj in objs:
        if obj.pk is None:
            obj.pk = pk.get_pk_value_on_save(obj)
        obj._prepare_related_fields_for_save(operation_name="bulk_create")
    with_pk = [obj.pk is not None for obj in objs]
    if any(with_pk) and not all(with_pk):
        raise ValueError("inserts_new takes instances that all have, or all lack, a primary key")
    statement = _statement(model, using, len(objs), with_pk[0], ignore_conflicts)
    params = []
    for obj in objs:
        for field in statement.fields:
            value = field.pre_save(obj, add=True)
            if hasattr(value, "resolve_expression"):
                raise ValueError(f"{model.__name__}.{field.name}: expressions are not supported by inserts_new")
            params.append(field.get_db_prep_save(value, connection))
    with connection.cursor() as cursor:
        cursor.execute(statement.sql, params)
        if statement.returns_pk:
            for obj, (value,) in zip(objs, cursor.fetchall(), strict=True):
                setattr(obj, pk.attname, value)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = using
    return objs
