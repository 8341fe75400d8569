"""Plans, wallets, the append-only ledger and the price table. Money is integer minor units."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Plan(models.Model):
    """Rate limits an organization's keys run under."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    requests_per_minute = models.PositiveIntegerField(default=120)
    max_jobs_in_flight = models.PositiveIntegerField(default=20)
    is_default = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class Wallet(models.Model):
    """Prepaid balance. ``held`` is the part reserved by jobs in flight.

    Both columns are derived from the ledger (``balance == sum(amount)``, ``held ==
    sum(held_change)``) and kept on the row so a hold is one locked read plus one update.
    """

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="wallet")
    currency = models.CharField(max_length=3, default="USD")
    balance = models.BigIntegerField(default=0)
    held = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(held__gte=0), name="wallet_held_not_negative"),
            models.CheckConstraint(
                condition=models.Q(balance__gte=models.F("held")), name="wallet_available_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.organization} wallet"

    @property
    def available(self) -> int:
        return self.balance - self.held


class LedgerEntry(models.Model):
    """One movement of money. Rows are never updated or deleted.

    ``amount`` changes the balance; ``held_change`` changes the held part. A hold moves nothing
    out of the balance (amount 0, held +price); a capture takes the money (amount -price,
    held -price); a release frees it (amount 0, held -price).
    """

    class Kind(models.TextChoices):
        TOPUP = "topup", "Top-up"
        HOLD = "hold", "Hold"
        CAPTURE = "capture", "Capture"
        RELEASE = "release", "Release"
        ADJUSTMENT = "adjustment", "Adjustment"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="entries")
    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.BigIntegerField()
    held_change = models.BigIntegerField(default=0)
    balance_after = models.BigIntegerField()
    held_after = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=200, unique=True)
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.PROTECT, related_name="ledger_entries")
    description = models.CharField(max_length=300, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.idempotency_key})"


class PriceItem(models.Model):
    """A line of the price table; a job's price is the sum of the items its parameters select.

    Codes: ``restore_base`` (every image), ``background_enhance``, ``face_upsample`` and
    ``upscale_step`` (per upscale factor above 2). Editing rows changes prices without a deploy.
    """

    code = models.SlugField(max_length=40, unique=True)
    description = models.CharField(max_length=200)
    amount = models.PositiveIntegerField(help_text="Minor units (cents).")

    def __str__(self) -> str:
        return f"{self.code}: {self.amount}"
