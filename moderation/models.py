"""The moderation queue, what staff did about each item, abuse reports, perceptual hashes and
the blocklist, and staff roles."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Substr

from lib.pdq import CHUNK_HEX, CHUNKS
from moderation.fields import PdqBits, PdqBitsField


class StaffMember(models.Model):
    """A staff user's role inside the console. A staff user without a row is support; a
    superuser is always an admin."""

    class Role(models.TextChoices):
        SUPPORT = "support", "Support (read and flag)"
        ADMIN = "admin", "Admin (also hide, delete, refund, suspend)"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_member")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SUPPORT)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"


class BlockedHash(models.Model):
    """A known-bad image, by PDQ hash. Inputs within ``settings.PDQ_MATCH_DISTANCE`` are refused."""

    pdq_hash = models.CharField(max_length=64, unique=True)
    # Computed by the database from pdq_hash (moderation.fields): what the blocklist match reads.
    pdq_bits = models.GeneratedField(expression=PdqBits("pdq_hash"), output_field=PdqBitsField(), db_persist=True)
    reason = models.CharField(max_length=300)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    source_item = models.ForeignKey(
        "moderation.ModerationItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        # One index per 16-bit chunk of the hash (4 hex digits): the blocklist match looks up the
        # probe's near variants of each chunk in them (multi-index hashing, lib.pdq) and compares
        # only the rows found, instead of every row.
        indexes = [
            models.Index(Substr("pdq_hash", 1 + CHUNK_HEX * index, CHUNK_HEX), name=f"blockedhash_pdq_chunk_{index}")
            for index in range(CHUNKS)
        ]
        constraints = [
            # lib.pdq.normalize_hex's form; the blocklist match casts the column to bit(256).
            models.CheckConstraint(
                condition=models.Q(pdq_hash__regex=r"^[0-9a-f]{64}$"), name="blockedhash_pdq_hash_is_64_hex"
            ),
        ]

    def __str__(self) -> str:
        return self.pdq_hash


class ImageHash(models.Model):
    """The PDQ hash of one job's input or output."""

    class Kind(models.TextChoices):
        INPUT = "input", "Input"
        OUTPUT = "output", "Output"

    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="image_hashes")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    pdq_hash = models.CharField(max_length=64, db_index=True)
    quality = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "kind"], name="unique_image_hash_per_kind")]

    def __str__(self) -> str:
        return f"{self.kind} {self.pdq_hash}"


class ModerationItem(models.Model):
    """Something staff must look at: a reported result, a refused upload, a staff flag."""

    class Origin(models.TextChoices):
        REPORT = "report", "Abuse report"
        BLOCKLIST = "blocklist", "Blocklist match at intake"
        STAFF = "staff", "Flagged by staff"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACTIONED = "actioned", "Actioned"
        DISMISSED = "dismissed", "Dismissed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    origin = models.CharField(max_length=16, choices=Origin.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN, db_index=True)
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="moderation_items"
    )
    organization = models.ForeignKey(
        "accounts.Organization", null=True, blank=True, on_delete=models.SET_NULL, related_name="moderation_items"
    )
    api_key = models.ForeignKey("accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16, blank=True, default="")
    # The job's request id, or for a refused upload (no job exists) the id of the refused request.
    request_id = models.CharField(max_length=120, blank=True, default="", db_index=True)
    reason = models.TextField(max_length=2000)
    pdq_hash = models.CharField(max_length=64, blank=True, default="")
    matched_hash = models.ForeignKey(BlockedHash, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    match_distance = models.PositiveSmallIntegerField(null=True, blank=True)
    # Evidence: the retention purge never deletes the files of a preserved item's job.
    preserve_evidence = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_origin_display()}: {self.request_id or self.id}"

    def get_additional_data(self) -> dict:
        return {"organization_id": str(self.organization_id) if self.organization_id else None}


class ModerationAction(models.Model):
    """One thing staff did, with who, when and why. Rows are never updated or deleted."""

    class Kind(models.TextChoices):
        FLAG = "flag", "Flagged"
        HIDE = "hide", "Hidden"
        RESTORE = "restore", "Restored"
        DELETE = "delete", "Files deleted"
        REFUND = "refund", "Refunded"
        SUSPEND_KEY = "suspend_key", "Key revoked"
        SUSPEND_ORGANIZATION = "suspend_organization", "Organization suspended"
        BLOCK_HASH = "block_hash", "Hash blocklisted"
        UNBLOCK_HASH = "unblock_hash", "Hash removed from the blocklist"
        PRESERVE = "preserve", "Evidence preserved"
        UNPRESERVE = "unpreserve", "Evidence released"
        DISMISS = "dismiss", "Dismissed"

    item = models.ForeignKey(ModerationItem, on_delete=models.PROTECT, related_name="actions")
    job = models.ForeignKey("jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    # Kept as text too: the record must still say who after the account is gone.
    actor_username = models.CharField(max_length=150)
    reason = models.CharField(max_length=1000)
    customer_message = models.CharField(max_length=300, blank=True, default="")
    ledger_entry = models.ForeignKey(
        "billing.LedgerEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor_username}"

    def get_additional_data(self) -> dict:
        return {"organization_id": str(self.item.organization_id) if self.item.organization_id else None}


REPORT_REFERENCE_PREFIX = "AR-"  # an abuse report's reference: AR- and ten letters and digits


class AbuseReport(models.Model):
    """A report from anyone (no account): what they point at and why. ``reference`` is what the
    reporter is given to quote."""

    class Category(models.TextChoices):
        ILLEGAL = "illegal", "Illegal content"
        CHILD_SAFETY = "child_safety", "Child sexual abuse material"
        NON_CONSENSUAL = "non_consensual", "Image of me used without my consent"
        HARASSMENT = "harassment", "Harassment or impersonation"
        COPYRIGHT = "copyright", "Copyright"
        OTHER = "other", "Something else"

    reference = models.CharField(max_length=20, unique=True)
    item = models.ForeignKey(ModerationItem, on_delete=models.PROTECT, related_name="reports")
    target = models.CharField(max_length=2000)
    category = models.CharField(max_length=24, choices=Category.choices)
    details = models.TextField(max_length=4000, blank=True, default="")
    contact_email = models.EmailField(blank=True, default="")
    # An HMAC of the address, enough to see one source sending many reports without keeping IPs.
    ip_digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference
