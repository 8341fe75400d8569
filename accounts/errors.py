"""Domain errors of tenancy, keys and request-rate limiting."""

from __future__ import annotations

from django.conf import settings
from rest_framework import status

from config.errors import ApplicationError, Conflict, Forbidden, NotFound, ServiceUnavailable, Unauthorized

# Azure API Management's wording, which gateway clients already recognise.
MISSING_KEY_MESSAGE = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
INVALID_KEY_MESSAGE = (
    "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription."
)


# A 401 names the scheme that would have worked (RFC 9110 asks every 401 for one), as Azure API
# Management does: the key in the Ocp-Apim-Subscription-Key header.
CHALLENGE = 'AzureApiManagementKey realm="CodeFormer API",name="Ocp-Apim-Subscription-Key",type="header"'


class _KeyChallenge(Unauthorized):
    def __init__(self, message: str | None = None, **kwargs):
        headers = {"WWW-Authenticate": CHALLENGE, **(kwargs.pop("headers", None) or {})}
        super().__init__(message, headers=headers, **kwargs)


class MissingSubscriptionKey(_KeyChallenge):
    default_message = MISSING_KEY_MESSAGE


class InvalidSubscriptionKey(_KeyChallenge):
    default_message = INVALID_KEY_MESSAGE


class RevokedSubscriptionKey(Forbidden):
    default_message = "This subscription key has been revoked."


def revoked_by_moderation_error() -> RevokedSubscriptionKey:
    """The 403 of a key set our trust and safety team revoked: whom to ask, not just "revoked"."""
    return RevokedSubscriptionKey(
        "This subscription key was revoked by our trust and safety team. To ask why, write to "
        f"{settings.SUPPORT_CONTACT_EMAIL} and name the organization."
    )


class OrganizationSuspended(Forbidden):
    default_message = "The organization that owns this subscription key is suspended."


class SubscriptionNameTaken(Conflict):
    default_message = "A subscription with this name already exists."


class SubscriptionRevoked(Conflict):
    default_message = "This subscription has been revoked; create a new one."


class LastOwner(Conflict):
    default_message = "An organization must keep at least one owner."


class RateLimited(ApplicationError):
    """429: the key's requests-per-minute budget is spent. Carries Retry-After and RateLimit-* headers."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    title = "Too Many Requests"
    default_message = "Rate limit is exceeded."


# --- Teams: each rule a member can break has its own message; nothing changes when one is raised.


class NotATeamManager(Forbidden):
    default_message = "Only owners and admins of this organization can manage its team."


class OwnerRoleReserved(Forbidden):
    default_message = "Only an owner can make someone an owner, or change or remove an owner."


class AlreadyMember(Conflict):
    default_message = "This person is already a member; change their role on the team page instead."


class InvitationNotFound(NotFound):
    default_message = "This invitation link is not valid. Ask for a new invitation."


class InvitationClosed(Conflict):
    default_message = "This invitation has already been used or was withdrawn. Ask for a new invitation."


class InvitationExpired(Conflict):
    default_message = "This invitation has expired. Ask for a new invitation."


class InvitationForAnotherAddress(Forbidden):
    default_message = "This invitation was sent to another email address."


class InvitationNotSent(ServiceUnavailable):
    default_message = "The invitation email could not be sent, so no invitation was made. Please try again shortly."
