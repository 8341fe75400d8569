"""Writes to wallets and the append-only ledger.

Every movement is one LedgerEntry written under the wallet's row lock, and the wallet's ``balance``
and ``held`` columns move by exactly the entry's ``amount`` and ``held_change``. Each entry carries
a unique idempotency key: repeating a call with the same key returns the first entry and moves no
money. A job's hold is settled once, either captured (COMPLETED) or released (FAILED, ERROR,
CANCELED); the ``one_settlement_per_job`` constraint makes the two exclusive.

Holds and settlements are on the request and worker paths, so they keep the wallet row locked
as briefly as possible: the lock is taken by a conditional ``UPDATE ... RETURNING`` of relative
deltas (``wallet_move``), the ledger insert follows, then COMMIT. They also move
``in_flight`` (+1 per hold, -1 per settlement), which is how the plan's cap on jobs in flight is
checked without counting jobs. Top-ups and adjustments, rare and off the hot path, lock the
row first (``wallet_for_update``) and write absolute totals.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import NamedTuple

from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, Q, Sum, Value, When
from django.utils import timezone

from billing.errors import (
    IdempotencyKeyReused,
    InsufficientBalance,
    InvalidAmount,
    NothingToRefund,
    TooManyJobsInFlight,
    in_debt_error,
)
from billing.models import LedgerEntry, Wallet
from billing.money import format_money
from billing.selectors import wallet_for_update
from lib.db import prepared_cursor
from lib.inserts import NewRows, Veto, gated_insert, inserts_new

Kind = LedgerEntry.Kind


def hold_key(job) -> str:
    return f"job:{job.id}:hold"


def capture_key(job) -> str:
    return f"job:{job.id}:capture"


def release_key(job) -> str:
    return f"job:{job.id}:release"


def refund_key(job) -> str:
    return f"job:{job.id}:refund"


def _existing(*, wallet: Wallet, idempotency_key: str) -> LedgerEntry | None:
    entry = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if entry is not None and entry.wallet_id != wallet.id:
        raise IdempotencyKeyReused()
    return entry


def _append(
    *,
    wallet: Wallet,
    kind: str,
    amount: int,
    held_change: int,
    idempotency_key: str,
    job=None,
    description: str = "",
    created_by=None,
    allow_debt: bool = False,
) -> LedgerEntry:
    """Write one entry and move the (already locked) wallet by it, or return the entry that
    already carries ``idempotency_key``."""
    existing = _existing(wallet=wallet, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    wallet.balance += amount
    wallet.held += held_change
    # Only a refund or dispute may leave less than is held; any movement that brings the
    # balance back to the held amount settles the debt.
    wallet.in_debt = wallet.balance < wallet.held and (allow_debt or wallet.in_debt)
    entry = LedgerEntry(
        wallet=wallet,
        organization_id=wallet.organization_id,
        kind=kind,
        amount=amount,
        held_change=held_change,
        balance_after=wallet.balance,
        held_after=wallet.held,
        idempotency_key=idempotency_key,
        job=job,
        description=description[:300],
        created_by=created_by,
    )
    # Field checks only: the foreign keys are known to exist, and every extra query here would
    # lengthen the time the wallet stays locked.
    entry.full_clean(
        exclude=["wallet", "organization", "job", "created_by"], validate_unique=False, validate_constraints=False
    )
    try:
        # A savepoint, so that losing a race on the key (another wallet's entry committed with
        # the same key after our look-up) leaves the caller's transaction usable.
        with transaction.atomic():
            wallet.save(update_fields=["balance", "held", "in_debt", "updated_at"])
            entry.save()
    except IntegrityError:
        wallet.refresh_from_db(fields=["balance", "held", "in_debt"])
        existing = _existing(wallet=wallet, idempotency_key=idempotency_key)
        if existing is None:
            raise
        return existing
    return entry


def _require_key(idempotency_key: str) -> str:
    idempotency_key = (idempotency_key or "").strip()
    if not idempotency_key:
        raise InvalidAmount("An idempotency key is required.")
    return idempotency_key


CREDIT_KINDS = frozenset({Kind.TOPUP, Kind.PLAN_CREDIT, Kind.TRIAL, Kind.DISPUTE_WON})
DEBT_KINDS = frozenset({Kind.REFUND, Kind.DISPUTE})


@transaction.atomic
def wallet_topup(
    *, organization, amount: int, idempotency_key: str, description: str = "", created_by=None, kind: str = Kind.TOPUP
) -> LedgerEntry:
    """Add ``amount`` (> 0, minor units) to the balance: a top-up, a plan's included credit, trial
    credit or a dispute won back."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidAmount("A top-up must be a positive whole number of minor units.")
    if kind not in CREDIT_KINDS:
        raise InvalidAmount(f"{kind} is not a kind of credit.")
    wallet = wallet_for_update(organization)
    return _append(
        wallet=wallet,
        kind=kind,
        amount=amount,
        held_change=0,
        idempotency_key=_require_key(idempotency_key),
        description=description or "Top-up",
        created_by=created_by,
    )


@transaction.atomic
def wallet_debit_external(
    *, organization, amount: int, idempotency_key: str, kind: str, description: str
) -> LedgerEntry:
    """Take back money the payment provider returned to the payer (refund) or withdrew (dispute).

    Unlike every other debit this may take the balance below the held amount, even below zero:
    the money is gone either way and the ledger must say so. The wallet is then ``in_debt`` and
    submissions answer 402 until a top-up settles it.
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise InvalidAmount("A debit must be a positive whole number of minor units.")
    if kind not in DEBT_KINDS:
        raise InvalidAmount(f"{kind} is not a refund or dispute.")
    wallet = wallet_for_update(organization)
    return _append(
        wallet=wallet,
        kind=kind,
        amount=-amount,
        held_change=0,
        idempotency_key=_require_key(idempotency_key),
        description=description,
        allow_debt=True,
    )


@transaction.atomic
def wallet_adjust(
    *, organization, amount: int, idempotency_key: str, description: str = "", created_by=None
) -> LedgerEntry:
    """A manual correction by a signed ``amount``. A reason is required; the money held for jobs in
    flight cannot be taken away (the available balance never goes below zero)."""
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise InvalidAmount("An adjustment must be a non-zero whole number of minor units.")
    if not description.strip():
        raise InvalidAmount("An adjustment needs a reason.")
    idempotency_key = _require_key(idempotency_key)
    wallet = wallet_for_update(organization)
    existing = _existing(wallet=wallet, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    if wallet.available + amount < 0:
        available = format_money(wallet.available, wallet.currency)
        raise InsufficientBalance(f"The adjustment would take the available balance ({available}) below zero.")
    return _append(
        wallet=wallet,
        kind=Kind.ADJUSTMENT,
        amount=amount,
        held_change=0,
        idempotency_key=idempotency_key,
        description=description.strip(),
        created_by=created_by,
    )


@transaction.atomic
def job_refund(*, job, description: str, created_by=None) -> LedgerEntry:
    """Give back what a job was charged: an adjustment tied to the job, at most once (a second
    call returns the first entry). A job that was never captured has nothing to refund."""
    if not description.strip():
        raise InvalidAmount("A refund needs a reason.")
    wallet = Wallet.objects.select_for_update().get(organization_id=job.organization_id)
    existing = _existing(wallet=wallet, idempotency_key=refund_key(job))
    if existing is not None:
        return existing
    capture = LedgerEntry.objects.filter(job_id=job.id, kind=Kind.CAPTURE).first()
    if capture is None or capture.amount == 0:
        raise NothingToRefund()
    return _append(
        wallet=wallet,
        kind=Kind.ADJUSTMENT,
        amount=-capture.amount,
        held_change=0,
        idempotency_key=refund_key(job),
        job=job,
        description=description.strip(),
        created_by=created_by,
    )


def hold_place(*, job, amount: int, max_in_flight: int | None = None) -> LedgerEntry:
    """Reserve ``amount`` for ``job`` (see ``holds_place``); a job that already has its hold gets
    that entry back and nothing moves."""
    existing = _existing_for_job(job=job, idempotency_key=hold_key(job))
    if existing is not None:
        return existing
    return holds_place(jobs=[job], amounts=[amount], max_in_flight=max_in_flight)[0]


def holds_place(
    *,
    jobs: Sequence,
    amounts: Sequence[int],
    max_in_flight: int | None = None,
    with_rows: Sequence[NewRows] = (),
    veto: Veto | None = None,
) -> list[LedgerEntry]:
    """Reserve ``amounts[i]`` for ``jobs[i]`` and count the jobs in flight, all or nothing.

    The wallet row is moved by one conditional UPDATE which is also the check: ``balance - held``
    covers the total (which a wallet in debt never does) and, with ``max_in_flight``, the plan's
    cap on jobs in flight still holds. Raises InsufficientBalance (402: in debt, or not enough
    available) or TooManyJobsInFlight (429), leaving the wallet as it was.

    Without ``with_rows``, ``jobs`` are rows of one organization inserted in the caller's
    transaction (none has a hold yet: a second hold would break the ledger key's unique
    constraint); the UPDATE locks the row until the caller commits, the ledger insert is the only
    statement after it, and the caller's rollback removes the jobs after a refusal.

    With ``with_rows`` (the new jobs, their log lines, ...: instances not yet saved), those rows
    are written together with the hold, all or nothing, and the caller needs no transaction. On
    PostgreSQL that is ONE statement: ``WITH w AS (UPDATE wallet ... RETURNING), <inserts gated
    on w>, ledger AS (INSERT ... FROM w) SELECT ... FROM w``; in autocommit the row lock lasts
    the statement's own execution and its commit, with no round trip to the client while the row
    is locked (what limits admissions to one wallet). Elsewhere (SQLite), the same rows in a
    transaction of the usual statements. A unique violation in the rows (an idempotency key
    taken by a concurrent request) raises IntegrityError and writes nothing.

    ``veto`` (with ``with_rows`` only): a SELECT that, when it returns a row, stops the admission
    (``veto.refusal(row)`` is raised, nothing is written). In the one statement it is a ``WITH``
    clause that the wallet UPDATE's condition reads, evaluated once before the row is locked;
    otherwise a query of its own before the transaction.
    """
    connection = transaction.get_connection()
    if not with_rows and not connection.in_atomic_block:
        raise RuntimeError("holds_place must run inside the transaction that inserts the jobs")
    if veto is not None and not with_rows:
        raise ValueError("a veto needs with_rows: it must be decided before anything is written")
    if len(amounts) != len(jobs):
        raise ValueError("one amount per job")
    for amount in amounts:
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
            raise InvalidAmount("A hold must be a non-negative whole number of minor units.")
    if not jobs:
        return []
    organizations = {job.organization_id for job in jobs}
    if len(organizations) != 1:
        raise ValueError("the jobs belong to different organizations")
    (organization_id,) = organizations
    entries = [
        _entry(
            organization_id=organization_id,
            kind=Kind.HOLD,
            amount=0,
            held_change=amount,
            idempotency_key=hold_key(job),
            job=job,
            description=f"Hold for {getattr(job, 'request_id', job.id)}",
        )
        for job, amount in zip(jobs, amounts, strict=True)
    ]
    move = {
        "organization_id": organization_id,
        "held_change": sum(amounts),
        "in_flight_change": len(jobs),
        "require_available": sum(amounts),
        "max_in_flight": max_in_flight,
    }
    if with_rows and one_statement_holds(connection):
        return _holds_in_one_statement(connection, entries=entries, move=move, with_rows=with_rows, veto=veto)
    if not with_rows:
        return _holds_after_rows(entries=entries, move=move)
    if veto is not None:
        with connection.cursor() as cursor:
            cursor.execute(veto.sql, veto.params)
            vetoed = cursor.fetchone()
        if vetoed is not None:
            raise veto.refusal(tuple(vetoed))
    with transaction.atomic():
        for rows in with_rows:
            inserts_new(rows.objs, ignore_conflicts=rows.ignore_conflicts)
        return _holds_after_rows(entries=entries, move=move)


def one_statement_holds(connection) -> bool:
    """Whether ``holds_place(with_rows=...)`` writes everything in one statement on this
    database (PostgreSQL: data-modifying WITH clauses). Tests switch it off to run the other
    path on the same database."""
    return connection.vendor == "postgresql"


def _holds_after_rows(*, entries: list[LedgerEntry], move: dict) -> list[LedgerEntry]:
    moved = wallet_move(**move)
    if moved is None:
        raise _refusal(move["organization_id"], adding=move["in_flight_change"], max_in_flight=move["max_in_flight"])
    _fill_totals(entries, moved, total=move["held_change"])
    inserts_new(entries)
    return entries


def _fill_totals(entries: list[LedgerEntry], moved: WalletMove, *, total: int) -> None:
    held = moved.held - total
    for entry in entries:
        held += entry.held_change
        entry.wallet_id, entry.balance_after, entry.held_after = moved.wallet_id, moved.balance, held


def _holds_in_one_statement(
    connection, *, entries: list[LedgerEntry], move: dict, with_rows, veto: Veto | None
) -> list[LedgerEntry]:
    # The veto's clause comes first and the UPDATE's condition reads it: PostgreSQL runs it once,
    # as an init plan, before the wallet row is fetched and locked.
    move_sql, move_params = _wallet_move_statement(
        connection, **move, unless_any="SELECT 1 FROM v" if veto is not None else None
    )
    inserts = [
        gated_insert(rows.objs, name=f"r{index}", guard="w", ignore_conflicts=rows.ignore_conflicts)
        for index, rows in enumerate(with_rows)
        if rows.objs
    ]
    # Each entry's held_after is the wallet's new held less what the later entries add: sent as
    # that remainder and subtracted in SQL (the new totals exist only inside the statement).
    behind = move["held_change"]
    for entry in entries:
        behind -= entry.held_change
        entry.held_after = behind
    ledger = gated_insert(
        entries,
        name="ledger",
        guard="w",
        from_guard={"wallet": "{g}.id", "balance_after": "{g}.balance", "held_after": "{g}.held - {v}"},
    )
    clauses = [*inserts, ledger]
    returned = [clause for clause in clauses if clause.returning]
    # Every piece is built from model metadata and fixed names; the values are parameters.
    arrays = "".join(f", ARRAY(SELECT {clause.returning} FROM {clause.name})" for clause in returned)  # noqa: S608
    body = ", ".join(clause.sql for clause in clauses)
    params = [*move_params, *(param for clause in clauses for param in clause.params)]
    if veto is None:
        sql = f"WITH w AS ({move_sql}), {body} SELECT w.id, w.balance, w.held{arrays} FROM w"  # noqa: S608
    else:
        # One row whatever happened: the wallet's new totals (NULL when it did not move) and the
        # veto's row (NULL when there is none).
        sql = (
            f"WITH v AS ({veto.sql}), w AS ({move_sql}), {body} "  # noqa: S608
            f"SELECT w.id, w.balance, w.held{arrays}, v.* FROM (SELECT 1) AS one "
            "LEFT JOIN w ON TRUE LEFT JOIN v ON TRUE"
        )
        params = [*veto.params, *params]
    # In a caller's transaction, a savepoint: a unique violation must not doom that transaction.
    block = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with block, prepared_cursor(connection) as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if veto is not None:
        row, vetoed = row[: len(row) - veto.columns], row[len(row) - veto.columns :]
        if vetoed[0] is not None:
            raise veto.refusal(tuple(vetoed))
        if row[0] is None:
            row = None
    if row is None:
        raise _refusal(move["organization_id"], adding=move["in_flight_change"], max_in_flight=move["max_in_flight"])
    moved = WalletMove(*row[:3])
    _fill_totals(entries, moved, total=move["held_change"])
    pks = iter(row[3:])
    for clause in clauses:
        clause.finish(next(pks) if clause.returning else None)
    return entries


def _refusal(organization_id, *, adding: int, max_in_flight: int | None) -> Exception:
    """Why the conditional UPDATE changed nothing, from the row as it is now."""
    balance, in_debt, in_flight, currency = Wallet.objects.values_list(
        "balance", "in_debt", "in_flight", "currency"
    ).get(organization_id=organization_id)
    if in_debt or balance < 0:
        return in_debt_error(balance, currency)
    if max_in_flight is not None and in_flight + adding > max_in_flight:
        return TooManyJobsInFlight(
            f"This organization may have at most {max_in_flight} request{'' if max_in_flight == 1 else 's'} "
            f"queued or processing at once; {in_flight} {'is' if in_flight == 1 else 'are'}. "
            "Send it again when one has finished.",
            limit=max_in_flight,
            in_flight=in_flight,
        )
    return InsufficientBalance()


class WalletMove(NamedTuple):
    wallet_id: int
    balance: int
    held: int


def wallet_move(
    *,
    organization_id,
    balance_change: int = 0,
    held_change: int = 0,
    in_flight_change: int = 0,
    require_available: int | None = None,
    max_in_flight: int | None = None,
) -> WalletMove | None:
    """Move the organization's wallet row by the given deltas in one UPDATE (which row-locks it
    until the transaction ends) and answer its new totals; None when the row does not meet
    ``balance - held >= require_available`` or ``in_flight + in_flight_change <= max_in_flight``.
    The deltas are relative, so no earlier read (and no earlier lock) is needed; the check
    constraints stop any move that would take held, the available balance or in_flight below 0.
    A wallet in debt stays so until a move brings its balance back to what it holds.
    """
    connection = transaction.get_connection()
    if not connection.features.can_return_rows_from_update:
        return _wallet_move_then_read(
            organization_id, balance_change, held_change, in_flight_change, require_available, max_in_flight
        )
    sql, params = _wallet_move_statement(
        connection,
        organization_id=organization_id,
        balance_change=balance_change,
        held_change=held_change,
        in_flight_change=in_flight_change,
        require_available=require_available,
        max_in_flight=max_in_flight,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return WalletMove(*row) if row is not None else None


def _wallet_move_statement(
    connection,
    *,
    organization_id,
    balance_change: int = 0,
    held_change: int = 0,
    in_flight_change: int = 0,
    require_available: int | None = None,
    max_in_flight: int | None = None,
    unless_any: str | None = None,
) -> tuple[str, list]:
    """The conditional ``UPDATE ... RETURNING id, balance, held`` of ``wallet_move``;
    ``unless_any``: a query (no parameters) that stops the move when it returns a row."""
    fields = Wallet._meta
    sql = [
        f"UPDATE {connection.ops.quote_name(fields.db_table)} SET balance = balance + %s, held = held + %s, "  # noqa: S608 - the model's own table name
        "in_flight = in_flight + %s, in_debt = (in_debt AND balance + %s < held + %s), "
        "updated_at = %s WHERE organization_id = %s"
    ]
    params = [
        balance_change,
        held_change,
        in_flight_change,
        balance_change,
        held_change,
        fields.get_field("updated_at").get_db_prep_value(timezone.now(), connection),
        fields.get_field("organization").get_db_prep_value(organization_id, connection),
    ]
    if require_available is not None:
        sql.append("AND balance - held >= %s")
        params.append(require_available)
    if max_in_flight is not None:
        sql.append("AND in_flight + %s <= %s")
        params.extend([in_flight_change, max_in_flight])
    if unless_any is not None:
        sql.append(f"AND NOT EXISTS ({unless_any})")
    sql.append("RETURNING id, balance, held")
    return " ".join(sql), params


def _wallet_move_then_read(
    organization_id, balance_change, held_change, in_flight_change, require_available, max_in_flight
) -> WalletMove | None:
    """``wallet_move`` for a database without UPDATE ... RETURNING (SQLite before 3.35): the same
    conditional UPDATE through the ORM, then a read of the row it now holds locked."""
    rows = Wallet.objects.filter(organization_id=organization_id)
    if require_available is not None:
        rows = rows.filter(balance__gte=F("held") + require_available)
    if max_in_flight is not None:
        rows = rows.filter(in_flight__lte=max_in_flight - in_flight_change)
    still_in_debt = Q(in_debt=True, balance__lt=F("held") + (held_change - balance_change))
    changed = rows.update(
        balance=F("balance") + balance_change,
        held=F("held") + held_change,
        in_flight=F("in_flight") + in_flight_change,
        in_debt=Case(When(still_in_debt, then=Value(True)), default=Value(False)),
        updated_at=timezone.now(),
    )
    if not changed:
        return None
    return WalletMove(*Wallet.objects.values_list("id", "balance", "held").get(organization_id=organization_id))


def _entry(*, organization_id, kind: str, amount: int, held_change: int, idempotency_key: str, job, description: str):
    """A ledger entry with its fields checked; the wallet and running totals are filled in once
    the wallet row has moved."""
    entry = LedgerEntry(
        organization_id=organization_id,
        kind=kind,
        amount=amount,
        held_change=held_change,
        balance_after=0,
        held_after=0,
        idempotency_key=idempotency_key,
        job=job,
        description=description[:300],
    )
    entry.full_clean(
        exclude=["wallet", "organization", "job", "created_by"], validate_unique=False, validate_constraints=False
    )
    return entry


def _existing_for_job(*, job, idempotency_key: str) -> LedgerEntry | None:
    entry = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if entry is not None and entry.organization_id != job.organization_id:
        raise IdempotencyKeyReused()
    return entry


def _open_hold(job) -> LedgerEntry | None:
    """The job's hold if it is neither captured nor released yet."""
    entries = {
        entry.kind: entry
        for entry in LedgerEntry.objects.filter(job_id=job.id, kind__in=[Kind.HOLD, Kind.CAPTURE, Kind.RELEASE])
    }
    if Kind.CAPTURE in entries or Kind.RELEASE in entries:
        return None
    return entries.get(Kind.HOLD)


@transaction.atomic(savepoint=False)
def hold_capture(*, job, amount: int | None = None) -> LedgerEntry | None:
    """Charge the held price of a COMPLETED job, or only ``amount`` of it (what was delivered,
    when the worker had to deliver less than was asked), releasing the rest in the same entry.
    Returns None (and does nothing) when the job has no open hold: never held, already
    captured, or already released."""
    hold = _open_hold(job)
    if hold is None:
        return None
    held = hold.held_change
    charge = held if amount is None else max(0, min(int(amount), held))
    description = f"Charge for {getattr(job, 'request_id', job.id)}"
    if charge != held:
        description += f" ({charge} of {held} held; the rest released)"
    return _settle(
        job=job,
        kind=Kind.CAPTURE,
        amount=-charge,
        held_change=-held,
        idempotency_key=capture_key(job),
        description=description,
    )


@transaction.atomic(savepoint=False)
def hold_release(*, job, reason: str = "") -> LedgerEntry | None:
    """Give back the held price of a FAILED, ERROR or canceled job. Returns None (and does nothing)
    when the job has no open hold."""
    hold = _open_hold(job)
    if hold is None:
        return None
    label = f"Release for {getattr(job, 'request_id', job.id)}"
    return _settle(
        job=job,
        kind=Kind.RELEASE,
        amount=0,
        held_change=-hold.held_change,
        idempotency_key=release_key(job),
        description=f"{label}: {reason}" if reason else label,
    )


def _settle(*, job, kind: str, amount: int, held_change: int, idempotency_key: str, description: str):
    """Close the job's hold: move the wallet (the job leaves the in-flight count) and write the
    entry, the wallet row locked only for these two statements and the caller's COMMIT. Callers
    settle last in their transactions for that reason. Two settlements racing for one job: the
    ``one_settlement_per_job`` constraint lets one through, the other returns None."""
    entry = _entry(
        organization_id=job.organization_id,
        kind=kind,
        amount=amount,
        held_change=held_change,
        idempotency_key=idempotency_key,
        job=job,
        description=description,
    )
    try:
        # A savepoint, so that losing the race leaves the caller's transaction usable.
        with transaction.atomic():
            moved = wallet_move(
                organization_id=job.organization_id,
                balance_change=amount,
                held_change=held_change,
                in_flight_change=-1,
            )
            if moved is None:
                raise Wallet.DoesNotExist(f"organization {job.organization_id} has no wallet")
            entry.wallet_id, entry.balance_after, entry.held_after = moved
            entry.save(force_insert=True)
    except IntegrityError:
        if LedgerEntry.objects.filter(job_id=job.id, kind__in=[Kind.CAPTURE, Kind.RELEASE]).exists():
            return None
        raise
    return entry


def ledger_check(*, organization=None) -> list[str]:
    """Every disagreement between wallets and their ledgers, as readable lines (empty when sound).

    Checks, per wallet: balance == sum(amount); held == sum(held_change); held == the sum of the
    holds not yet captured or released; in_flight == the number of those holds; the last entry's
    running totals match the row.
    """
    wallets = Wallet.objects.select_related("organization").order_by("id")
    if organization is not None:
        wallets = wallets.filter(organization=organization)
    problems: list[str] = []
    for wallet in wallets:
        problems.extend(_wallet_problems(wallet))
    return problems


def _wallet_problems(wallet: Wallet) -> list[str]:
    name = f"{wallet.organization.slug} (wallet {wallet.id})"
    entries = LedgerEntry.objects.filter(wallet=wallet)
    sums = entries.aggregate(amount=Sum("amount"), held=Sum("held_change"))
    total, total_held = sums["amount"] or 0, sums["held"] or 0
    settled = entries.filter(kind__in=[Kind.CAPTURE, Kind.RELEASE], job__isnull=False).values("job_id")
    open_holds = (
        entries.filter(kind=Kind.HOLD).exclude(job_id__in=settled).aggregate(s=Sum("held_change"), n=Count("id"))
    )
    open_held, open_count = open_holds["s"] or 0, open_holds["n"]
    problems = []
    if wallet.balance != total:
        problems.append(f"{name}: balance {wallet.balance} != sum of ledger amounts {total}")
    if wallet.held != total_held:
        problems.append(f"{name}: held {wallet.held} != sum of ledger held changes {total_held}")
    if wallet.held != open_held:
        problems.append(f"{name}: held {wallet.held} != sum of open holds {open_held}")
    if wallet.in_flight != open_count:
        problems.append(f"{name}: in_flight {wallet.in_flight} != number of open holds {open_count}")
    foreign = entries.exclude(organization_id=wallet.organization_id).count()
    if foreign:
        problems.append(f"{name}: {foreign} ledger entries name another organization")
    # ids come from a sequence and are assigned under the wallet lock, so the highest is the latest.
    last = entries.order_by("-id").first()
    if last is not None and (last.balance_after, last.held_after) != (wallet.balance, wallet.held):
        problems.append(
            f"{name}: last entry {last.idempotency_key} ends at balance {last.balance_after}/held {last.held_after}, "
            f"wallet row says {wallet.balance}/{wallet.held}"
        )
    return problems
