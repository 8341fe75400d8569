"""Writes for organizations, memberships, subscription keys and webhook secrets."""

from __future__ import annotations

import base64
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.emails import canonical_email
from accounts.errors import LastOwner, SubscriptionNameTaken, SubscriptionRevoked
from accounts.keys import generate_key, key_digest
from accounts.models import ApiKey, Membership, Organization, Subscription, TrialGrant
from billing.models import LedgerEntry, Plan, Wallet
from billing.services import wallet_topup
from config.errors import BadRequest
from lib.audit import audit_update

WEBHOOK_SECRET_BYTES = 24


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` + base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(WEBHOOK_SECRET_BYTES)).decode()


def default_plan() -> Plan:
    plan = Plan.objects.filter(is_default=True).order_by("id").first()
    if plan is None:
        plan, _ = Plan.objects.get_or_create(code="standard", defaults={"name": "Standard", "is_default": True})
    return plan


def _unique_slug(name: str) -> str:
    base = (slugify(name) or "org")[:60]
    slug = base
    while Organization.objects.filter(slug=slug).exists():
        slug = f"{base}-{secrets.token_hex(3)}"
    return slug


@transaction.atomic
def organization_create(
    *, name: str, slug: str | None = None, plan: Plan | None = None, owner=None, initial_credit: int = 0
) -> Organization:
    """A new tenant with its wallet and webhook secret; ``initial_credit`` arrives as a top-up entry."""
    name = (name or "").strip()
    if not name:
        raise BadRequest("An organization needs a name.")
    if initial_credit < 0:
        raise BadRequest("Initial credit cannot be negative.")
    organization = Organization(
        name=name,
        slug=slug or _unique_slug(name),
        plan=plan or default_plan(),
        webhook_secret=new_webhook_secret(),
    )
    organization.full_clean()
    organization.save()
    wallet = Wallet(organization=organization)
    wallet.full_clean()
    wallet.save()
    if owner is not None:
        membership_add(organization=organization, user=owner, role=Membership.Role.OWNER)
    if initial_credit:
        wallet_topup(
            organization=organization,
            amount=initial_credit,
            idempotency_key=f"org:{organization.id}:initial-credit",
            description="Initial credit",
            created_by=owner,
        )
    # A fresh instance: the one above caches the wallet as it was before the top-up.
    return Organization.objects.select_related("plan", "wallet").get(pk=organization.pk)


def _default_organization_name(user) -> str:
    local = (user.email or user.get_username()).split("@", 1)[0] or "My"
    return f"{local}'s organization"[:200]


@transaction.atomic
def signup_complete(*, user, organization_name: str = "") -> Organization:
    """A new account's own organization, with the account as its owner. Trial credit comes
    later, once the email address is verified (``trial_credit_grant``)."""
    name = (organization_name or "").strip() or _default_organization_name(user)
    return organization_create(name=name, owner=user)


def _has_verified_email(user, email: str) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


@transaction.atomic
def trial_credit_grant(*, user, email: str) -> LedgerEntry | None:
    """Credit the trial of the plan of the oldest organization ``user`` owns, once per mailbox
    and once per organization, when ``email`` is one of the user's verified addresses.

    Returns the ledger entry, or None when nothing is due: the address is not verified, the user
    owns no organization yet (an invitee; they get it on creating one), the plan has no trial, or
    this mailbox or organization already had one. The unique TrialGrant row is the guard, so two
    concurrent verifications grant once.
    """
    canonical = canonical_email(email)
    if not canonical or not _has_verified_email(user, email):
        return None
    owned = Membership.objects.filter(user=user, role=Membership.Role.OWNER).select_related("organization__plan")
    membership = owned.filter(organization__trial_grant__isnull=True).order_by("created_at", "id").first()
    if membership is None:
        return None
    organization = membership.organization
    amount = organization.plan.trial_credit
    if amount <= 0:
        return None
    try:
        with transaction.atomic():
            grant = TrialGrant.objects.create(email=canonical, user=user, organization=organization, amount=amount)
    except IntegrityError:
        return None  # this mailbox (or organization) had its trial already
    return wallet_topup(
        organization=organization,
        amount=amount,
        kind=LedgerEntry.Kind.TRIAL,
        idempotency_key=f"trial:{grant.pk}",
        description=f"Trial credit ({organization.plan.name} plan), for verifying {email}",
        created_by=user,
    )


@transaction.atomic
def organization_create_owned(*, user, name: str) -> Organization:
    """An organization a signed-in user creates for themselves (e.g. an invitee's first own one):
    they own it, and it gets the trial if their verified address has not had one."""
    organization = organization_create(name=name, owner=user)
    if user.email and trial_credit_grant(user=user, email=user.email) is not None:
        organization = Organization.objects.select_related("plan", "wallet").get(pk=organization.pk)
    return organization


@transaction.atomic
def organization_set_status(*, organization: Organization, status: str) -> Organization:
    """Suspend or reactivate. A suspended organization's keys answer 403."""
    if status not in Organization.Status.values:
        raise BadRequest(f"Unknown status {status!r}; expected one of {', '.join(Organization.Status.values)}.")
    before = Organization.objects.filter(pk=organization.pk).values_list("status", flat=True).first()
    Organization.objects.filter(pk=organization.pk).update(status=status)
    organization.status = status
    audit_update(organization, {"status": (before, status)})
    return organization


@transaction.atomic
def membership_add(*, organization: Organization, user, role: str = Membership.Role.MEMBER) -> Membership:
    """Add ``user`` with ``role``; an existing member gets the new role."""
    if role not in Membership.Role.values:
        raise BadRequest(f"Unknown role {role!r}; expected one of {', '.join(Membership.Role.values)}.")
    membership = Membership.objects.select_for_update().filter(organization=organization, user=user).first()
    if membership is None:
        membership = Membership(organization=organization, user=user, role=role)
        membership.full_clean()
        membership.save()
        return membership
    if membership.role != role:
        _ensure_owner_remains(organization=organization, leaving=membership, new_role=role)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    _ensure_owner_remains(organization=membership.organization, leaving=membership, new_role=None)
    membership.delete()


def _ensure_owner_remains(*, organization: Organization, leaving: Membership, new_role: str | None) -> None:
    if leaving.role != Membership.Role.OWNER or new_role == Membership.Role.OWNER:
        return
    owners = Membership.objects.select_for_update().filter(organization=organization, role=Membership.Role.OWNER)
    if not owners.exclude(pk=leaving.pk).exists():
        raise LastOwner()


def _issue_key(*, subscription: Subscription, slot: str) -> str:
    prefix, full_key = generate_key()
    api_key = ApiKey(
        subscription=subscription,
        organization_id=subscription.organization_id,
        slot=slot,
        prefix=prefix,
        digest=key_digest(full_key),
    )
    api_key.full_clean(validate_constraints=False)
    api_key.save()
    return full_key


@transaction.atomic
def subscription_create(*, organization: Organization, name: str) -> tuple[Subscription, dict[str, str]]:
    """A named key set with a primary and a secondary key. The full keys are returned once
    (slot -> key) and never stored."""
    name = (name or "").strip()
    if not name:
        raise BadRequest("A subscription needs a name.")
    if Subscription.objects.filter(organization=organization, name=name, revoked_at__isnull=True).exists():
        raise SubscriptionNameTaken(f"A subscription named {name!r} already exists.")
    subscription = Subscription(organization=organization, name=name)
    subscription.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError as exc:  # a concurrent create with the same name won
        raise SubscriptionNameTaken(f"A subscription named {name!r} already exists.") from exc
    keys = {slot: _issue_key(subscription=subscription, slot=slot) for slot in ApiKey.Slot.values}
    return subscription, keys


@transaction.atomic
def api_key_regenerate(*, subscription: Subscription, slot: str) -> str:
    """Replace one slot's key; the other slot keeps working, so clients rotate without downtime.
    The old row stays, revoked, for the audit trail."""
    if slot not in ApiKey.Slot.values:
        raise BadRequest(f"Unknown slot {slot!r}; expected primary or secondary.")
    subscription = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if subscription.revoked_at is not None:
        raise SubscriptionRevoked()
    _revoke_keys(ApiKey.objects.filter(subscription=subscription, slot=slot, revoked_at__isnull=True))
    return _issue_key(subscription=subscription, slot=slot)


def _revoke_keys(keys, now=None) -> None:
    """Revoke the live keys of ``keys`` and record each in the audit trail (a queryset update
    sends no model signal for auditlog to see)."""
    now = now or timezone.now()
    live = list(keys.filter(revoked_at__isnull=True))
    ApiKey.objects.filter(pk__in=[key.pk for key in live], revoked_at__isnull=True).update(revoked_at=now)
    for key in live:
        audit_update(key, {"revoked_at": (None, now)})


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke one key (403 from then on) without issuing a replacement; the slot can be
    regenerated later. Revoking twice is harmless."""
    _revoke_keys(ApiKey.objects.filter(pk=api_key.pk))
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


@transaction.atomic
def subscription_revoke(*, subscription: Subscription) -> Subscription:
    """Revoke the subscription and both its keys (403 from then on). Revoking twice is harmless."""
    now = timezone.now()
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.revoked_at is None:
        locked.revoked_at = now
        locked.save(update_fields=["revoked_at"])
    _revoke_keys(ApiKey.objects.filter(subscription=locked), now=now)
    subscription.revoked_at = locked.revoked_at
    return subscription


@transaction.atomic
def webhook_secret_rotate(*, organization: Organization) -> str:
    """A new signing secret. The old one moves to ``previous_webhook_secret`` and keeps signing
    (alongside the new one) for settings.WEBHOOK_SECRET_OVERLAP_HOURS."""
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    locked.previous_webhook_secret = locked.webhook_secret
    locked.webhook_secret = new_webhook_secret()
    locked.webhook_secret_rotated_at = timezone.now()
    locked.save(update_fields=["previous_webhook_secret", "webhook_secret", "webhook_secret_rotated_at"])
    organization.previous_webhook_secret = locked.previous_webhook_secret
    organization.webhook_secret = locked.webhook_secret
    organization.webhook_secret_rotated_at = locked.webhook_secret_rotated_at
    return locked.webhook_secret
