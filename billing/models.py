"""Plans, wallets, the append-only ledger and the price table. Money is integer minor units."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from billing.money import format_money


class Plan(models.Model):
    """What an organization buys: limits, quota, file retention and its price table (PlanPrice
    rows, each falling back to the list price in PriceItem). Data, editable in the admin."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True, default="")
    requests_per_minute = models.PositiveIntegerField(default=120, help_text="0 = unlimited.")
    max_jobs_in_flight = models.PositiveIntegerField(default=20)
    monthly_image_quota = models.PositiveIntegerField(
        default=0, help_text="Images per calendar month (UTC); 0 = unlimited."
    )
    file_retention_hours = models.PositiveIntegerField(
        default=24, help_text="How long inputs and results are kept after a job ends."
    )
    monthly_price = models.PositiveIntegerField(default=0, help_text="Subscription price per month, minor units.")
    included_credit = models.PositiveIntegerField(
        default=0, help_text="Wallet credit each paid subscription invoice adds, minor units."
    )
    stripe_price_id = models.CharField(
        max_length=100, blank=True, default="", help_text="Stripe Billing price of the subscription (price_...)."
    )
    trial_credit = models.PositiveIntegerField(
        default=0,
        help_text="Credit a new organization on this plan gets once its owner's email address is verified "
        "(once per address), minor units.",
    )
    is_public = models.BooleanField(default=True, help_text="Customers may choose it themselves.")
    is_default = models.BooleanField(default=False)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_paid(self) -> bool:
        return self.monthly_price > 0


class PlanPrice(models.Model):
    """A plan's own price for one PriceItem code (see billing.pricing)."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="prices")
    code = models.SlugField(max_length=40)
    amount = models.PositiveIntegerField(help_text="Minor units (cents).")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["plan", "code"], name="unique_plan_price_code")]

    def __str__(self) -> str:
        return f"{self.plan.code}/{self.code}: {self.amount}"


class Wallet(models.Model):
    """Prepaid balance. ``held`` is the part reserved by jobs in flight; ``in_flight`` counts them.

    All three are derived from the ledger (``balance == sum(amount)``, ``held ==
    sum(held_change)``, ``in_flight`` == the holds not yet captured or released) and kept on the
    row so that admitting a submission is one conditional UPDATE of it (``billing.services``).

    ``in_debt``: a refund or dispute took more than was available. Only those entries may take
    the balance under ``held`` (the constraint allows it while the flag is set); the next movement
    that brings the balance back to ``held`` or above clears it. Submissions are refused meanwhile.
    """

    organization = models.OneToOneField("accounts.Organization", on_delete=models.CASCADE, related_name="wallet")
    currency = models.CharField(max_length=3, default="USD")
    balance = models.BigIntegerField(default=0)
    held = models.BigIntegerField(default=0)
    in_debt = models.BooleanField(default=False)
    # Jobs QUEUED or PROCESSING: moved by hold (+1), capture and release (-1) in their
    # transactions, so the plan's max_jobs_in_flight is checked without counting jobs.
    in_flight = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(held__gte=0), name="wallet_held_not_negative"),
            models.CheckConstraint(
                condition=models.Q(balance__gte=models.F("held")) | models.Q(in_debt=True),
                name="wallet_available_not_negative_unless_in_debt",
            ),
            models.CheckConstraint(condition=models.Q(in_flight__gte=0), name="wallet_in_flight_not_negative"),
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
        PLAN_CREDIT = "plan_credit", "Plan credit"
        TRIAL = "trial", "Trial credit"
        REFUND = "refund", "Refund"
        DISPUTE = "dispute", "Dispute"
        DISPUTE_WON = "dispute_won", "Dispute won"

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
        constraints = [
            # A hold is settled once: captured or released, never both, never twice. The
            # settlement takes the wallet lock last, so this, not the lock, decides a race.
            models.UniqueConstraint(
                fields=["job"],
                condition=models.Q(kind__in=["capture", "release"]),
                name="one_settlement_per_job",
            )
        ]

    def __str__(self) -> str:
        # Read by people (the audit trail keeps it as the row's name): money as money. The
        # wallet's currency only when already loaded, so naming a row never costs a query.
        wallet = self._state.fields_cache.get("wallet")
        return f"{self.get_kind_display()} {format_money(self.amount, wallet.currency if wallet else 'USD')}"

    @property
    def kind_label(self) -> str:
        """The kind as people read it: staff money given back for one request (an adjustment
        tied to its job) is that request's refund, not a bare adjustment."""
        if self.kind == self.Kind.ADJUSTMENT and self.job_id:
            return "Request refund"
        return self.get_kind_display()

    def get_additional_data(self) -> dict:
        """What the audit trail (django-auditlog) files this entry under."""
        return {"organization_id": str(self.organization_id), "kind": self.kind, "job_id": str(self.job_id or "")}


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


class BillingAccount(models.Model):
    """An organization's billing details, Stripe ids, spend controls, alerts and auto-recharge.

    Created on first use (``billing.selectors.billing_account_for``).
    """

    organization = models.OneToOneField(
        "accounts.Organization", on_delete=models.CASCADE, related_name="billing_account"
    )
    # Printed on receipts.
    billing_name = models.CharField(max_length=200, blank=True, default="")
    billing_email = models.EmailField(blank=True, default="")
    address_line1 = models.CharField(max_length=200, blank=True, default="")
    address_line2 = models.CharField(max_length=200, blank=True, default="")
    postal_code = models.CharField(max_length=20, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="", help_text="ISO 3166-1 alpha-2.")
    tax_id = models.CharField(max_length=50, blank=True, default="")
    stripe_customer_id = models.CharField(max_length=100, blank=True, default="")
    # Spend controls and alerts (minor units; NULL = none).
    monthly_spend_limit = models.PositiveBigIntegerField(null=True, blank=True)
    spend_alert_percents = models.CharField(
        max_length=50, blank=True, default="80,100", help_text="Percentages of the spend limit that send an alert."
    )
    low_balance_threshold = models.PositiveBigIntegerField(null=True, blank=True)
    low_balance_alerted = models.BooleanField(default=False)
    # Where billing.* events go (the organization has no account-wide webhook endpoint otherwise).
    webhook_url = models.URLField(max_length=2000, blank=True, default="")
    # Auto-recharge.
    auto_recharge_enabled = models.BooleanField(default=False)
    auto_recharge_threshold = models.PositiveBigIntegerField(default=0)
    auto_recharge_amount = models.PositiveBigIntegerField(default=0)
    auto_recharge_monthly_cap = models.PositiveBigIntegerField(default=0)
    auto_recharge_payment_method = models.CharField(max_length=100, blank=True, default="")
    auto_recharge_failures = models.PositiveSmallIntegerField(default=0)
    # Set while one charge is under way: at most one at a time.
    auto_recharge_pending_since = models.DateTimeField(null=True, blank=True)
    # Stripe Billing subscription; ``subscription_event_at`` orders late events.
    stripe_subscription_id = models.CharField(max_length=100, blank=True, default="")
    subscription_status = models.CharField(max_length=30, blank=True, default="")
    subscription_event_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.organization} billing"

    def get_additional_data(self) -> dict:
        """What the audit trail (django-auditlog) files this object's entries under."""
        return {"organization_id": str(self.organization_id)}

    def alert_percents(self) -> list[int]:
        values = []
        for part in self.spend_alert_percents.split(","):
            part = part.strip()
            if part.isdigit() and 0 < int(part) <= 1000:
                values.append(int(part))
        return sorted(set(values))


class KeySpendLimit(models.Model):
    """An optional monthly spend limit of one subscription (key set)."""

    subscription = models.OneToOneField("accounts.Subscription", on_delete=models.CASCADE, related_name="spend_limit")
    monthly_limit = models.PositiveBigIntegerField()

    def __str__(self) -> str:
        return f"{self.subscription}: {self.monthly_limit}/month"


class StripeEvent(models.Model):
    """Every Stripe webhook event received, by its id; ``processed_at`` is set in the transaction
    that applied it, so an event is applied once however often it arrives."""

    id = models.CharField(max_length=255, primary_key=True)
    type = models.CharField(max_length=100, db_index=True)
    created = models.DateTimeField(help_text="When Stripe created the event.")
    livemode = models.BooleanField(default=False)
    payload = models.JSONField()
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="stripe_events"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    deliveries = models.PositiveIntegerField(default=1)
    processed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.id} {self.type}"


class Payment(models.Model):
    """Money a customer paid (or tried to pay) through Stripe; the receipt is one of these."""

    class Kind(models.TextChoices):
        TOPUP = "topup", "Top-up"
        AUTO_RECHARGE = "auto_recharge", "Auto-recharge"
        SUBSCRIPTION = "subscription", "Subscription"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Paid"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("accounts.Organization", on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    amount = models.BigIntegerField(help_text="What the customer paid, minor units.")
    currency = models.CharField(max_length=3, default="USD")
    credit = models.BigIntegerField(default=0, help_text="Wallet credit the payment added.")
    amount_refunded = models.BigIntegerField(default=0)
    amount_disputed = models.BigIntegerField(default=0)
    stripe_checkout_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_payment_intent_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_invoice_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    stripe_charge_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    receipt_url = models.URLField(max_length=2000, blank=True, default="")
    ledger_entry = models.OneToOneField(
        LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="payment"
    )
    failure_message = models.CharField(max_length=300, blank=True, default="")
    description = models.CharField(max_length=300, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["organization", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.amount} {self.currency} ({self.status})"

    @property
    def number(self) -> str:
        return f"R-{self.created_at:%Y%m}-{str(self.id)[:8].upper()}"


class BillingAlert(models.Model):
    """One alert sent; the unique key is what makes each crossing alert once."""

    class Kind(models.TextChoices):
        LOW_BALANCE = "low_balance", "Low balance"
        SPEND_LIMIT = "spend_limit", "Spend limit"
        PAYMENT_RECEIVED = "payment_received", "Payment received"
        PAYMENT_FAILED = "payment_failed", "Payment failed"
        AUTO_RECHARGE_DISABLED = "auto_recharge_disabled", "Auto-recharge switched off"

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE, related_name="billing_alerts")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    key = models.CharField(max_length=200, help_text="What makes this alert unique (threshold and period).")
    message = models.CharField(max_length=500)
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [models.UniqueConstraint(fields=["organization", "kind", "key"], name="unique_billing_alert")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"
