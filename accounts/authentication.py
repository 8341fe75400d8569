"""DRF authentication by subscription key.

The key is read from, in order: the ``Ocp-Apim-Subscription-Key`` header, ``Authorization: Bearer
<key>``, and the ``subscription-key`` query parameter. ``request.auth`` is the ApiKey,
``request.user`` an ApiKeyUser carrying the organization.
"""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication

from accounts.keys import authenticate_key
from accounts.models import ApiKey, Organization

HEADER = "Ocp-Apim-Subscription-Key"
QUERY_PARAM = "subscription-key"


class ApiKeyUser:
    """Who a key-authenticated request acts as: the key's organization, not a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.organization: Organization = api_key.organization

    def __str__(self) -> str:
        return f"key {self.api_key.prefix} of {self.organization}"


def presented_key(request) -> str | None:
    """The raw key the client sent, wherever it put it (None if it sent none)."""
    value = request.headers.get(HEADER, "").strip()
    if value:
        return value
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    query = getattr(request, "query_params", request.GET)
    return query.get(QUERY_PARAM, "").strip() or None


class SubscriptionKeyAuthentication(BaseAuthentication):
    """Requires a key: a request without one is a 401, like the gateway's."""

    www_authenticate_realm = "api"

    def authenticate(self, request):
        api_key = authenticate_key(presented_key(request))
        return ApiKeyUser(api_key), api_key

    def authenticate_header(self, request) -> str:
        return f'Bearer realm="{self.www_authenticate_realm}"'
