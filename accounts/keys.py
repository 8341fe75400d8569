"""Subscription keys: how they look, how they are stored and how a presented key is checked.

A full key reads ``cf_<prefix>_<secret>``. The prefix (12 of [a-z0-9]) is public and indexed; only
``HMAC-SHA256(API_KEY_PEPPER, full key)`` is stored. Look-up is by prefix, comparison by
``hmac.compare_digest``; an unknown prefix is compared against a dummy digest so the answer takes
as long as for a known one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from accounts.errors import (
    InvalidSubscriptionKey,
    MissingSubscriptionKey,
    OrganizationSuspended,
    RevokedSubscriptionKey,
    revoked_by_moderation_error,
)
from accounts.key_lookup import api_key_with_tenant
from accounts.models import ApiKey

KEY_TAG = "cf"
PREFIX_LENGTH = 12
PREFIX_ALPHABET = string.ascii_lowercase + string.digits
SECRET_BYTES = 24  # token_urlsafe(24) is exactly 32 characters
KEY_PATTERN = re.compile(rf"^{KEY_TAG}_([a-z0-9]{{{PREFIX_LENGTH}}})_([A-Za-z0-9_-]{{32}})$")
# Writing last_used_at on every request would turn each read into a row write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def generate_key() -> tuple[str, str]:
    """A fresh ``(prefix, full_key)``."""
    prefix = "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))
    return prefix, f"{KEY_TAG}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"


def key_digest(full_key: str) -> str:
    return hmac.new(settings.API_KEY_PEPPER.encode(), full_key.encode(), hashlib.sha256).hexdigest()


def parse_prefix(raw_key: str) -> str | None:
    match = KEY_PATTERN.match(raw_key)
    return match.group(1) if match else None


def authenticate_key(raw_key: str | None) -> ApiKey:
    """The live ApiKey for a presented key, with its organization and plan loaded.

    Raises ``Unauthorized`` (401) for a missing, malformed or unknown key and ``Forbidden`` (403)
    for a revoked key or a suspended organization. The digest is checked before anything about
    the row is revealed, so a guessed prefix learns nothing.
    """
    raw_key = (raw_key or "").strip()
    if not raw_key:
        raise MissingSubscriptionKey()
    prefix = parse_prefix(raw_key)
    api_key = None
    if prefix is not None:
        # One query for everything a submission reads about its tenant: the plan (rate limit, cap,
        # prices), the wallet's totals (the early 402), and the spend limits of the organization
        # and the key set (admission checks).
        api_key = api_key_with_tenant(prefix)
    expected = api_key.digest if api_key is not None else _DUMMY_DIGEST
    matches = hmac.compare_digest(expected, key_digest(raw_key))
    if api_key is None or not matches:
        raise InvalidSubscriptionKey()
    if api_key.subscription.revoked_by_moderation:
        raise revoked_by_moderation_error()
    if api_key.revoked_at is not None or api_key.subscription.revoked_at is not None:
        raise RevokedSubscriptionKey()
    if not api_key.organization.is_active:
        raise OrganizationSuspended()
    _touch(api_key)
    return api_key


def _touch(api_key: ApiKey) -> None:
    """Record use at most once per LAST_USED_RESOLUTION; the conditional UPDATE lets concurrent
    requests race without piling up writes."""
    now = timezone.now()
    if api_key.last_used_at is not None and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ApiKey.objects.filter(stale, pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


_DUMMY_DIGEST = hashlib.sha256(b"no key has this digest").hexdigest()


def invitation_token_digest(token: str) -> str:
    """What an invitation stores of its link's token: a random 32-byte token needs no pepper."""
    return hashlib.sha256((token or "").encode()).hexdigest()
