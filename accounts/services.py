"""Writes for organizations, memberships, subscription keys and webhook secrets."""

from __future__ import annotations

import base64
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from accounts.emails import canonical_email
from accounts.errors import (
    AlreadyMember,
    InvitationClosed,
    InvitationExpired,
    InvitationForAnotherAddress,
    InvitationNotFound,
    InvitationNotSent,
    LastOwner,
    NotATeamManager,
    OrganizationSuspended,
    OwnerRoleReserved,
    SubscriptionNameTaken,
    SubscriptionRevoked,
)
from accounts.keys import generate_key, invitation_token_digest, key_digest
from accounts.models import ApiKey, Invitation, Membership, Organization, Subscription, TrialGrant
from billing.models import LedgerEntry, Plan, Wallet
from billing.services import wallet_topup
from config.errors import BadRequest, NotFound
from lib.audit import audit_event, audit_update
from lib.base_url import stored_base_url

logger = logging.getLogger(__name__)

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
def signup_complete(*, user, organization_name: str = "", invitation_token: str = "") -> Organization | None:
    """A new account's own organization, with the account as its owner; none when the account
    signs up through an open invitation to its address (it joins that organization on accepting,
    and can still create its own later). Trial credit comes once the address is verified."""
    if invitation_token and user.email:
        invitation = Invitation.objects.filter(
            token_digest=invitation_token_digest(invitation_token),
            email__iexact=user.email,
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        if invitation.exists():
            return None
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
def organization_rename(*, organization: Organization, name: str) -> Organization:
    """A new display name (the slug, the id customers quote, stays). The audit trail records the
    change (Organization is registered with auditlog; save() is what it hears)."""
    name = " ".join((name or "").split())
    if not name:
        raise BadRequest("Give the organization a name.")
    if len(name) > Organization._meta.get_field("name").max_length:
        raise BadRequest("Keep the name under 200 characters.")
    locked = Organization.objects.select_for_update().get(pk=organization.pk)
    if locked.name != name:
        locked.name = name
        locked.save(update_fields=["name"])
    organization.name = locked.name
    return organization


@transaction.atomic
def organization_set_status(*, organization: Organization, status: str, actor=None, reason: str = "") -> Organization:
    """Suspend or reactivate. A suspended organization's keys answer 403. ``actor`` and
    ``reason`` go into the audit entry (the staff console requires a reason)."""
    if status not in Organization.Status.values:
        raise BadRequest(f"Unknown status {status!r}; expected one of {', '.join(Organization.Status.values)}.")
    before = Organization.objects.filter(pk=organization.pk).values_list("status", flat=True).first()
    Organization.objects.filter(pk=organization.pk).update(status=status)
    organization.status = status
    extra = {"reason": reason.strip()} if reason.strip() else {}
    audit_update(organization, {"status": (before, status)}, actor=actor, **extra)
    if before != status:
        # The owners hear it from us, not from their clients' 403s (the reason stays internal).
        transaction.on_commit(lambda: _send_status_notice(organization))
    return organization


def _send_status_notice(organization: Organization) -> None:
    suspended = organization.status == Organization.Status.SUSPENDED
    _mail_owners(organization, "organization_status", {"suspended": suspended}, page="dashboard:home")


def _mail_owners(organization: Organization, template: str, context: dict, *, page: str) -> None:
    """An e-mail to the organization's owners from accounts/email/<template>_subject.txt and
    _message.txt (with the organization, the support address and a link to ``page``). A mail
    server that refuses is logged: what it announces happened either way, and the dashboard
    and the API's answers say it too."""
    owners = Membership.objects.filter(
        organization=organization, role=Membership.Role.OWNER, user__is_active=True
    ).values_list("user__email", flat=True)
    to = sorted({email for email in owners if email})
    if not to:
        return
    context = {
        "organization": organization,
        "contact_email": settings.SUPPORT_CONTACT_EMAIL,
        "dashboard_url": stored_base_url("") + reverse(page),
        **context,
    }
    subject = render_to_string(f"accounts/email/{template}_subject.txt", context).strip()
    body = render_to_string(f"accounts/email/{template}_message.txt", context)
    try:
        send_mail(subject, body, None, to)
    except Exception:  # SMTP or an anymail provider's error: logged, never the staff action's 500
        logger.exception("%s notice to organization %s failed", template, organization.pk)


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


# --- Teams: invitations, roles, leaving. The rules live here, not in views: only an owner makes,
# changes or removes an owner; an organization keeps at least one owner; an existing member is
# never re-roled by an invitation.

Role = Membership.Role


def _require_manager(actor: Membership) -> None:
    if not actor.can_manage:
        raise NotATeamManager()


def _require_role(role: str) -> str:
    if role not in Role.values:
        raise BadRequest(f"Unknown role {role!r}; expected one of {', '.join(Role.values)}.")
    return role


def _is_member_by_email(organization: Organization, email: str) -> bool:
    return (
        Membership.objects.filter(organization=organization)
        .filter(Q(user__email__iexact=email) | Q(user__emailaddress__email__iexact=email))
        .exists()
    )


@transaction.atomic
def invitation_create(*, actor: Membership, email: str, role: str, base_url: str) -> Invitation:
    """Invite ``email`` into the actor's organization with ``role`` and mail the link (an address
    invited again gets a fresh link; the old one stops working). ``base_url`` is the site root the
    link is built on. The mail is sent inside the transaction: if it cannot be sent, nothing stays."""
    _require_manager(actor)
    _require_role(role)
    if role == Role.OWNER and actor.role != Role.OWNER:
        raise OwnerRoleReserved("Only an owner can invite another owner.")
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise BadRequest("Enter a valid email address.") from exc
    organization = actor.organization
    if _is_member_by_email(organization, email):
        raise AlreadyMember(f"{email} is already a member; change their role on the team page instead.")
    now = timezone.now()
    Invitation.objects.select_for_update().filter(
        organization=organization, email=email, accepted_at__isnull=True, revoked_at__isnull=True
    ).update(revoked_at=now)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        organization=organization,
        email=email,
        role=role,
        token_digest=invitation_token_digest(token),
        invited_by=actor.user,
        expires_at=now + timedelta(days=settings.INVITATION_TTL_DAYS),
    )
    invitation.full_clean(validate_constraints=False)
    invitation.save()
    _send_invitation(
        invitation=invitation, url=base_url.rstrip("/") + reverse("dashboard:invitation_accept", args=[token])
    )
    return invitation


def _send_invitation(*, invitation: Invitation, url: str) -> None:
    context = {"invitation": invitation, "url": url, "inviter": invitation.invited_by}
    subject = render_to_string("accounts/email/invitation_subject.txt", context).strip()
    body = render_to_string("accounts/email/invitation_message.txt", context)
    try:
        send_mail(subject, body, None, [invitation.email])
    except OSError as exc:  # SMTP refused, timed out, DNS
        raise InvitationNotSent() from exc


@transaction.atomic
def invitation_accept(*, token: str, user) -> tuple[Membership, bool]:
    """Join the invitation's organization. Returns (membership, joined); a user who already
    belongs keeps their role (joined is False). Needs the invited address verified on ``user``."""
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("organization")
        .filter(token_digest=invitation_token_digest(token or ""))
        .first()
    )
    if invitation is None:
        raise InvitationNotFound()
    if not invitation.is_open:
        raise InvitationClosed()
    if invitation.expires_at <= timezone.now():
        raise InvitationExpired()
    if not _has_verified_email(user, invitation.email):
        raise InvitationForAnotherAddress(
            f"This invitation was sent to {invitation.email}. Log in with that address, or add and verify it "
            "under Account & security, to accept it."
        )
    membership = Membership.objects.filter(organization=invitation.organization, user=user).first()
    joined = membership is None
    if joined:
        membership = Membership(organization=invitation.organization, user=user, role=invitation.role)
        membership.full_clean(validate_constraints=False)
        membership.save()
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership, joined


@transaction.atomic
def invitation_revoke(*, actor: Membership, invitation: Invitation) -> Invitation:
    """Withdraw an open invitation (its link stops working). Withdrawing twice is harmless."""
    _require_manager(actor)
    if invitation.organization_id != actor.organization_id:
        raise InvitationNotFound()
    if invitation.is_open:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


@transaction.atomic
def membership_change_role(*, actor: Membership, membership: Membership, role: str) -> Membership:
    """Give a member another role. Owners only may grant or take away the owner role, and the
    last owner cannot be demoted (LastOwner)."""
    _require_manager(actor)
    _require_role(role)
    if membership.organization_id != actor.organization_id:
        raise NotFound("No such member.")
    if Role.OWNER in {role, membership.role} and actor.role != Role.OWNER:
        raise OwnerRoleReserved()
    locked = Membership.objects.select_for_update().get(pk=membership.pk)
    if locked.role == role:
        return locked
    _ensure_owner_remains(organization=actor.organization, leaving=locked, new_role=role)
    locked.role = role
    locked.save(update_fields=["role"])
    return locked


@transaction.atomic
def member_remove(*, actor: Membership, membership: Membership) -> None:
    """Take someone out of the organization (their own membership: see organization_leave)."""
    if membership.pk == actor.pk:
        organization_leave(membership=actor)
        return
    _require_manager(actor)
    if membership.organization_id != actor.organization_id:
        raise NotFound("No such member.")
    if membership.role == Role.OWNER and actor.role != Role.OWNER:
        raise OwnerRoleReserved()
    membership_remove(membership=membership)


@transaction.atomic
def organization_leave(*, membership: Membership) -> None:
    try:
        membership_remove(membership=membership)
    except LastOwner as exc:
        raise LastOwner("You are the only owner: make someone else an owner before you leave.") from exc


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
    if not organization.is_active:
        # Its keys answer 403 while it is suspended: a new one would only look like a way round.
        raise OrganizationSuspended(
            "This organization is suspended: its API keys answer 403 and no new key can be made until staff "
            "reactivate it."
        )
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
def subscription_revoke(*, subscription: Subscription, by_moderation: bool = False) -> Subscription:
    """Revoke the subscription and both its keys (403 from then on). Revoking twice is harmless;
    ``by_moderation`` (our trust and safety team did it) is kept even if the owner revoked first."""
    now = timezone.now()
    locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
    if locked.revoked_at is None:
        locked.revoked_at = now
        locked.revoked_by_moderation = by_moderation
        locked.save(update_fields=["revoked_at", "revoked_by_moderation"])
        if by_moderation:  # the owners hear it from us, not from their clients' 403s
            transaction.on_commit(
                lambda: _mail_owners(
                    locked.organization, "key_set_revoked", {"subscription": locked}, page="dashboard:keys"
                )
            )
    _revoke_keys(ApiKey.objects.filter(subscription=locked), now=now)
    subscription.revoked_at = locked.revoked_at
    subscription.revoked_by_moderation = locked.revoked_by_moderation
    return subscription


WEBHOOK_SECRET_REVEALED = "webhook_secret_revealed"  # noqa: S105 - an audit event name


def webhook_secret_reveal(*, organization: Organization, user) -> str:
    """The signing secret, shown to an owner or admin; who looked and when is in the trail (it
    lets its holder forge our webhooks)."""
    audit_event(organization, WEBHOOK_SECRET_REVEALED, actor=user)
    return organization.webhook_secret


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
