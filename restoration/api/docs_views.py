"""The interactive API docs, served entirely from this deployment (drf-spectacular-sidecar).

A Content-Security-Policy keeps them that way: Redoc's bundle still links a "powered by" logo
on a CDN, and the policy stops the browser from fetching it (or anything else outside this
origin) instead of letting a machine without internet wait on it.
"""

from __future__ import annotations

from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

# Swagger UI's bootstrap script and both tools' styles are inline; Redoc's search runs in a
# worker made from a blob.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)


class _SelfHosted:
    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CSP
        return response


class SwaggerDocsView(_SelfHosted, SpectacularSwaggerView):
    template_name = "api/swagger_ui.html"


class RedocDocsView(_SelfHosted, SpectacularRedocView):
    template_name = "api/redoc.html"
