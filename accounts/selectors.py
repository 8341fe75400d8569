"""Reads of organizations, memberships and keys. Tenant-owned reads take the organization first;
another tenant's object is a 404."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch, QuerySet

from accounts.keys import invitation_token_digest
from accounts.models import ApiKey, Invitation, Membership, Organization, Subscription
from config.errors import NotFound


def _as_uuid(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def subscriptions_for(organization: Organization, *, include_revoked: bool = False) -> QuerySet[Subscription]:
    """The organization's key sets, newest first, each with ``live_keys`` (unrevoked ApiKeys,
    primary first) prefetched."""
    live = ApiKey.objects.filter(revoked_at__isnull=True).order_by("slot")
    subscriptions = Subscription.objects.filter(organization=organization).prefetch_related(
        Prefetch("keys", queryset=live, to_attr="live_keys")
    )
    if not include_revoked:
        subscriptions = subscriptions.filter(revoked_at__isnull=True)
    return subscriptions.order_by("-created_at")


def revoked_subscriptions_for(organization: Organization) -> QuerySet[Subscription]:
    """The organization's revoked key sets, most recently revoked first: jobs and the audit
    trail still name them, so the keys page keeps them in view."""
    return Subscription.objects.filter(organization=organization, revoked_at__isnull=False).order_by("-revoked_at")


def subscription_get(organization: Organization, subscription_id) -> Subscription:
    """One of the organization's subscriptions; NotFound for another tenant's or a malformed id."""
    pk = _as_uuid(subscription_id)
    subscription = subscriptions_for(organization, include_revoked=True).filter(pk=pk).first() if pk else None
    if subscription is None:
        raise NotFound("No such subscription.")
    return subscription


def api_keys_for(organization: Organization, *, include_revoked: bool = True) -> QuerySet[ApiKey]:
    keys = ApiKey.objects.filter(organization=organization).select_related("subscription")
    if not include_revoked:
        keys = keys.filter(revoked_at__isnull=True)
    return keys.order_by("-created_at")


def memberships_for_user(user) -> QuerySet[Membership]:
    """The user's memberships with their organizations, oldest first."""
    if user is None or not getattr(user, "is_authenticated", False) or getattr(user, "pk", None) is None:
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("organization__plan").order_by("created_at", "id")


def members_for(organization: Organization) -> QuerySet[Membership]:
    return Membership.objects.filter(organization=organization).select_related("user").order_by("created_at", "id")


def member_get(organization: Organization, membership_id) -> Membership:
    """One of the organization's memberships; NotFound for another tenant's or a malformed id."""
    try:
        pk = int(membership_id)
    except (TypeError, ValueError):
        pk = None
    membership = members_for(organization).filter(pk=pk).first() if pk else None
    if membership is None:
        raise NotFound("No such member.")
    return membership


def invitations_open_for(organization: Organization) -> QuerySet[Invitation]:
    """Invitations not yet accepted or withdrawn (expired ones included, marked by expires_at)."""
    return (
        Invitation.objects.filter(organization=organization, accepted_at__isnull=True, revoked_at__isnull=True)
        .select_related("invited_by")
        .order_by("-created_at")
    )


def invitation_get(organization: Organization, invitation_id) -> Invitation:
    pk = _as_uuid(invitation_id)
    invitation = Invitation.objects.filter(organization=organization, pk=pk).first() if pk else None
    if invitation is None:
        raise NotFound("No such invitation.")
    return invitation


def invitation_for_token(token: str) -> Invitation | None:
    """The invitation a link's token names (for showing it; accepting re-checks under a lock)."""
    return (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(token_digest=invitation_token_digest(token or ""))
        .first()
    )


def membership_for(user, organization: Organization) -> Membership:
    membership = memberships_for_user(user).filter(organization=organization).first()
    if membership is None:
        raise NotFound("No such organization.")
    return membership


def organization_for_user(user, organization_id=None) -> Organization:
    """The organization ``user`` works in: the one named by ``organization_id`` if the user belongs
    to it, else the user's first. NotFound when the user belongs to none (or not to that one)."""
    memberships = memberships_for_user(user)
    if organization_id is not None:
        pk = _as_uuid(organization_id)
        memberships = memberships.filter(organization_id=pk) if pk else memberships.none()
    membership = memberships.first()
    if membership is None:
        raise NotFound("No such organization.")
    return membership.organization


def organization_by_ref(ref: str) -> Organization:
    """An organization by slug or id, for operator commands (staff see every tenant)."""
    pk = _as_uuid(ref)
    organization = Organization.objects.select_related("plan").filter(pk=pk).first() if pk else None
    organization = organization or Organization.objects.select_related("plan").filter(slug=ref).first()
    if organization is None:
        raise NotFound(f"No organization with slug or id {ref!r}.")
    return organization
