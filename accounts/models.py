"""Tenants (organizations), their members and their subscription keys."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from accounts.display import user_display


class Organization(models.Model):
    """The tenant: owns keys, the wallet, jobs, webhook deliveries and files."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    plan = models.ForeignKey("billing.Plan", on_delete=models.PROTECT, related_name="organizations")
    # Standard Webhooks signing secret ("whsec_" + base64). The previous one keeps signing for
    # an overlap window after a rotation so receivers can switch without dropping events.
    webhook_secret = models.CharField(max_length=100)
    previous_webhook_secret = models.CharField(max_length=100, blank=True, default="")
    webhook_secret_rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    def get_additional_data(self) -> dict:
        """What the audit trail (django-auditlog) files this object's entries under."""
        return {"organization_id": str(self.id)}


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="unique_membership")]

    def __str__(self) -> str:
        # How the audit trail names the row: the person as the product shows them (name or
        # e-mail), never the username allauth derived for them.
        return f"{user_display(self.user)} in {self.organization} ({self.role})"

    @property
    def can_manage(self) -> bool:
        return self.role in {self.Role.OWNER, self.Role.ADMIN}

    def get_additional_data(self) -> dict:
        """What the audit trail (django-auditlog) files this object's entries under."""
        return {"organization_id": str(self.organization_id)}


class Subscription(models.Model):
    """A named key set holding a primary and a secondary key, as API gateways do.

    Either key authenticates; regenerating one slot at a time lets a client rotate without
    downtime. Revoking the subscription revokes both.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="subscriptions")
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Revoked by our trust and safety team (a moderation action), not by the organization: its
    # keys' 403 and the keys page say so, so the customer knows whom to ask.
    revoked_by_moderation = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                condition=models.Q(revoked_at__isnull=True),
                name="unique_active_subscription_name",
            )
        ]

    def __str__(self) -> str:
        return f"{self.organization}: {self.name}"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def get_additional_data(self) -> dict:
        """What the audit trail (django-auditlog) files this object's entries under."""
        return {"organization_id": str(self.organization_id)}


class ApiKey(models.Model):
    """One key of a subscription. Only an HMAC digest of the secret is stored.

    The full key reads ``cf_<prefix>_<secret>``; the prefix is public and indexed for look-up,
    the digest is compared in constant time.
    """

    class Slot(models.TextChoices):
        PRIMARY = "primary", "Primary"
        SECONDARY = "secondary", "Secondary"

    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="keys")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    slot = models.CharField(max_length=16, choices=Slot.choices)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Set when the slot is regenerated or the subscription revoked; kept for the audit trail.
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "slot"],
                condition=models.Q(revoked_at__isnull=True),
                name="one_live_key_per_slot",
            )
        ]

    def __str__(self) -> str:
        return f"cf_{self.prefix}_… ({self.slot})"

    def get_additional_data(self) -> dict:
        """What the audit trail (django-auditlog) files this object's entries under."""
        return {"organization_id": str(self.organization_id)}


class TrialGrant(models.Model):
    """Trial credit given once per mailbox and once per organization.

    The row outlives the user and the organization (``SET_NULL``), so deleting an account and
    signing up again with the same address (in any spelling, see ``accounts.emails``) gets no
    second trial.
    """

    email = models.CharField(max_length=254, unique=True, help_text="Canonical form (accounts.emails).")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    organization = models.OneToOneField(Organization, null=True, on_delete=models.SET_NULL, related_name="trial_grant")
    amount = models.PositiveIntegerField(help_text="Minor units.")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"trial {self.amount} for {self.email}"


class Invitation(models.Model):
    """An invitation to join an organization with a role, sent by email.

    The link carries a random token; only its SHA-256 digest is stored. It works once, until
    ``expires_at``, and only for a signed-in user who has verified the address it was sent to.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=16, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token_digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Inviting an address again replaces its open invitation (accounts.services).
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="one_open_invitation_per_address",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.organization} ({self.role})"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None

    def get_additional_data(self) -> dict:
        """What the audit trail (django-auditlog) files this object's entries under."""
        return {"organization_id": str(self.organization_id)}
