"""The interactive API docs, served entirely from this deployment (drf-spectacular-sidecar).

A Content-Security-Policy keeps them that way: Redoc's bundle still links a "powered by" logo
on a CDN, and the policy stops the browser from fetching it (or anything else outside this
origin) instead of letting a machine without internet wait on it.
"""

from __future__ import annotations

import secrets

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_POST
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny

# Swagger UI's bootstrap script and both tools' styles are inline; Redoc's search runs in a
# worker made from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class _SelfHosted:
    # Both pages are public; the dashboard's session only tells them who is looking, so a
    # signed-in customer is pointed at their keys (Redoc too) instead of being asked to log in.
    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response


class SwaggerDocsView(_SelfHosted, SpectacularSwaggerView):
    template_name = "api/swagger_ui.html"
    # The page (not the API) knows the signed-in member, to offer a key of their organization.
    authentication_classes = [SessionAuthentication]
    permission_classes = [AllowAny]


class RedocDocsView(_SelfHosted, SpectacularRedocView):
    template_name = "api/redoc.html"


@require_POST
def docs_key(request: HttpRequest) -> JsonResponse:
    """A new key set for the signed-in member's organization, for "Try it out" on the docs page.

    The docs take the member's session this way without the API accepting sessions: the page
    receives a real subscription key (shown once, like any new key; listed on the keys page,
    where it is revoked like any other), so every request it makes passes the same key, rate,
    suspension and money checks as a client's. Owners and admins only, as on the keys page;
    CSRF-protected like every session POST.
    """
    from accounts.services import subscription_create
    from config.errors import ApplicationError
    from restoration.dashboard.tenancy import current_membership

    if not request.user.is_authenticated:
        return JsonResponse({"error": "Forbidden", "message": "Log in to create a key here."}, status=403)
    membership = current_membership(request)
    if membership is None or not membership.can_manage:
        return JsonResponse(
            {"error": "Forbidden", "message": "Only owners and admins of an organization can create keys."}, status=403
        )
    name = f"API docs {timezone.localtime():%Y-%m-%d %H:%M} {secrets.token_hex(2)}"
    try:
        subscription, keys = subscription_create(organization=membership.organization, name=name)
    except ApplicationError as exc:
        return JsonResponse({"error": exc.title, "message": exc.message}, status=exc.status_code)
    response = JsonResponse(
        {"key": keys["primary"], "name": subscription.name, "organization": membership.organization.name}
    )
    response["Cache-Control"] = "no-store"
    return response
