"""Writes to wallets and the append-only ledger.

Every movement is one LedgerEntry written under the wallet's row lock, and the wallet's ``balance``
and ``held`` columns move by exactly the entry's ``amount`` and ``held_change``. Each entry carries
a unique idempotency key: repeating a call with the same key returns the first entry and moves no
money. A job's hold is settled once, either captured (COMPLETED) or released (FAILED, ERROR,
CANCELED); the checks for that run under the same lock, so the two can never both happen.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Sum

from billing.errors import IdempotencyKeyReused, InsufficientBalance, InvalidAmount, NothingToRefund
from billing.models import LedgerEntry, Wallet
from billing.money import format_money
from billing.selectors import wallet_for_update

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


def hold_place(*, wallet: Wallet, job, amount: int) -> LedgerEntry:
    """Reserve ``amount`` for ``job``. The caller holds the wallet's row lock (``wallet_for_update``)
    in its transaction, so the availability check and the update cannot interleave with another
    submission. Raises InsufficientBalance (402) when ``balance - held < amount``."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("hold_place must run inside the transaction that locked the wallet")
    if job.organization_id != wallet.organization_id:
        raise ValueError("the job and the wallet belong to different organizations")
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise InvalidAmount("A hold must be a non-negative whole number of minor units.")
    existing = _existing(wallet=wallet, idempotency_key=hold_key(job))
    if existing is not None:
        return existing
    if wallet.available < amount:
        raise InsufficientBalance()
    return _append(
        wallet=wallet,
        kind=Kind.HOLD,
        amount=0,
        held_change=amount,
        idempotency_key=hold_key(job),
        job=job,
        description=f"Hold for {getattr(job, 'request_id', job.id)}",
    )


def _open_hold(job) -> LedgerEntry | None:
    """The job's hold if it is neither captured nor released yet."""
    entries = {
        entry.kind: entry
        for entry in LedgerEntry.objects.filter(job_id=job.id, kind__in=[Kind.HOLD, Kind.CAPTURE, Kind.RELEASE])
    }
    if Kind.CAPTURE in entries or Kind.RELEASE in entries:
        return None
    return entries.get(Kind.HOLD)


@transaction.atomic
def hold_capture(*, job, amount: int | None = None) -> LedgerEntry | None:
    """Charge the held price of a COMPLETED job, or only ``amount`` of it (what was delivered,
    when the worker had to deliver less than was asked), releasing the rest in the same entry.
    Returns None (and does nothing) when the job has no open hold: never held, already
    captured, or already released."""
    wallet = Wallet.objects.select_for_update().get(organization_id=job.organization_id)
    hold = _open_hold(job)
    if hold is None:
        return None
    held = hold.held_change
    charge = held if amount is None else max(0, min(int(amount), held))
    description = f"Charge for {getattr(job, 'request_id', job.id)}"
    if charge != held:
        description += f" ({charge} of {held} held; the rest released)"
    return _append(
        wallet=wallet,
        kind=Kind.CAPTURE,
        amount=-charge,
        held_change=-held,
        idempotency_key=capture_key(job),
        job=job,
        description=description,
    )


@transaction.atomic
def hold_release(*, job, reason: str = "") -> LedgerEntry | None:
    """Give back the held price of a FAILED, ERROR or canceled job. Returns None (and does nothing)
    when the job has no open hold."""
    wallet = Wallet.objects.select_for_update().get(organization_id=job.organization_id)
    hold = _open_hold(job)
    if hold is None:
        return None
    label = f"Release for {getattr(job, 'request_id', job.id)}"
    return _append(
        wallet=wallet,
        kind=Kind.RELEASE,
        amount=0,
        held_change=-hold.held_change,
        idempotency_key=release_key(job),
        job=job,
        description=f"{label}: {reason}" if reason else label,
    )


def ledger_check(*, organization=None) -> list[str]:
    """Every disagreement between wallets and their ledgers, as readable lines (empty when sound).

    Checks, per wallet: balance == sum(amount); held == sum(held_change); held == the sum of the
    holds not yet captured or released; the last entry's running totals match the row.
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
    open_holds = entries.filter(kind=Kind.HOLD).exclude(job_id__in=settled).aggregate(s=Sum("held_change"))["s"] or 0
    problems = []
    if wallet.balance != total:
        problems.append(f"{name}: balance {wallet.balance} != sum of ledger amounts {total}")
    if wallet.held != total_held:
        problems.append(f"{name}: held {wallet.held} != sum of ledger held changes {total_held}")
    if wallet.held != open_holds:
        problems.append(f"{name}: held {wallet.held} != sum of open holds {open_holds}")
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
