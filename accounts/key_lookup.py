"""The one query behind every keyed request: the key with its subscription, organization, plan,
billing account, wallet and key-set spend limit, as the same model objects ``select_related``
would build.

Why not ``ApiKey.objects.select_related(...)``: the ORM compiles that seven-table join anew on
every request, and on the 2-core machine the compilation (column lists, joins, converters) was a
quarter of the web process's CPU per accepted submission (``bench/api_load --profile``), more
than PostgreSQL spent running it. The SQL here is built once per process from the models' own
metadata (columns, quoting, the backend's value converters), so it follows schema changes; the
rows become models through ``Model.from_db`` and the relations are cached the way
``select_related`` caches them (a missing optional row is cached as None: no query later).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.db import connections

from accounts.models import ApiKey, Organization, Subscription
from lib.db import prepared_cursor


@dataclass(frozen=True)
class _Table:
    model: type
    alias: str
    names: tuple[str, ...]  # attnames, in column order
    pk_index: int
    converters: tuple[tuple, ...]  # per column: (converters, expression)


@dataclass(frozen=True)
class _Lookup:
    sql: str
    tables: tuple[_Table, ...]


def _joins() -> list[tuple[str, type, str, str, str]]:
    """(alias, model, join kind, via): ``via`` is "<alias>.<fk name>" for a foreign key of a table
    already joined, or "<fk name>" for this model's own one-to-one to the organization or
    subscription (a reverse relation, LEFT joined: the row is optional)."""
    from billing.models import BillingAccount, KeySpendLimit, Plan, Wallet

    return [
        ("s", Subscription, "INNER", "k.subscription"),
        ("o", Organization, "INNER", "k.organization"),
        ("p", Plan, "INNER", "o.plan"),
        ("w", Wallet, "LEFT OUTER", "organization"),
        ("b", BillingAccount, "LEFT OUTER", "organization"),
        ("l", KeySpendLimit, "LEFT OUTER", "subscription"),
    ]


@cache
def _lookup(using: str) -> _Lookup:
    connection = connections[using]
    quote = connection.ops.quote_name
    aliases = {ApiKey: "k"}
    clauses = [f"FROM {quote(ApiKey._meta.db_table)} k"]
    for alias, model, kind, via in _joins():
        if "." in via:  # forward: <left>.<fk column> = <this>.<target column>
            left_alias, name = via.split(".")
            left = next(m for m, a in aliases.items() if a == left_alias)
            field = left._meta.get_field(name)
            on = f"{alias}.{quote(field.target_field.column)} = {left_alias}.{quote(field.column)}"
        else:  # reverse one-to-one: <this>.<fk column> = <target>.<pk column>
            field = model._meta.get_field(via)
            on = f"{alias}.{quote(field.column)} = {aliases[field.related_model]}.{quote(field.target_field.column)}"
        aliases[model] = alias
        clauses.append(f"{kind} JOIN {quote(model._meta.db_table)} {alias} ON {on}")
    tables, columns = [], []
    for model, alias in aliases.items():
        fields = model._meta.concrete_fields
        columns += [f"{alias}.{quote(f.column)}" for f in fields]
        converters = []
        for field in fields:
            col = field.get_col(alias)
            converters.append((tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection)), col))
        pk_index = list(fields).index(model._meta.pk)
        tables.append(_Table(model, alias, tuple(f.attname for f in fields), pk_index, tuple(converters)))
    prefix_column = quote(ApiKey._meta.get_field("prefix").column)
    sql = f"SELECT {', '.join(columns)} {' '.join(clauses)} WHERE k.{prefix_column} = %s"
    return _Lookup(sql=sql, tables=tuple(tables))


def api_key_with_tenant(prefix: str, *, using: str = "default") -> ApiKey | None:
    """The key with this (unique) prefix and everything a submission reads about its tenant, or None."""
    lookup = _lookup(using)
    connection = connections[using]
    with prepared_cursor(connection) as cursor:
        cursor.execute(lookup.sql, [prefix])
        row = cursor.fetchone()
    if row is None:
        return None
    objects, start = {}, 0
    for table in lookup.tables:
        values = list(row[start : start + len(table.names)])
        start += len(table.names)
        for index, (converters, col) in enumerate(table.converters):
            for converter in converters:
                values[index] = converter(values[index], col, connection)
        # An optional row that is absent comes back as NULLs, its primary key included.
        objects[table.alias] = (
            None if values[table.pk_index] is None else table.model.from_db(using, table.names, values)
        )
    key, subscription, organization = objects["k"], objects["s"], objects["o"]
    ApiKey.subscription.field.set_cached_value(key, subscription)
    ApiKey.organization.field.set_cached_value(key, organization)
    Organization.plan.field.set_cached_value(organization, objects["p"])
    _cache_reverse_one_to_one(organization, "wallet", objects["w"])
    _cache_reverse_one_to_one(organization, "billing_account", objects["b"])
    _cache_reverse_one_to_one(subscription, "spend_limit", objects["l"])
    return key


def _cache_reverse_one_to_one(instance, name: str, related) -> None:
    """What select_related does for a reverse one-to-one: cache the row (or None) on both sides."""
    relation = instance._meta.get_field(name)  # the OneToOneRel
    relation.set_cached_value(instance, related)
    if related is not None:
        relation.field.set_cached_value(related, instance)
