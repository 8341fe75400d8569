"""Django's error handlers: ``handler500`` tells a database outage from a bug, ``handler404``
answers API paths in the API's JSON shape.

Django calls ``handler500`` while the uncaught exception is being handled, so ``sys.exc_info()``
names it. A database that cannot be reached (refused, hung past the connect timeout, connection
lost) is the same 503 the APIs answer (``config.errors.DatabaseUnavailable``), here as a page
with ``Retry-After``, so a browser, a load balancer and the person reading it all know it is
temporary. Anything else is the ordinary 500 page. Neither page touches the database: both render
without a request context (no user, no organization), as Django's own ``server_error`` does.
"""

from __future__ import annotations

import re
import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.template import loader
from django.urls import Resolver404, resolve
from django.views import defaults
from django.views.decorators.csrf import requires_csrf_token

from config.errors import DatabaseUnavailable


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    exception = sys.exc_info()[1]
    if isinstance(exception, (OperationalError, InterfaceError)):
        page = loader.get_template("503.html").render({"retry_after_s": DatabaseUnavailable.retry_after_s})
        response = HttpResponse(page, status=503)
        response["Retry-After"] = str(DatabaseUnavailable.retry_after_s)
        return response
    return HttpResponseServerError(loader.get_template("500.html").render())


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """404 as the caller reads it: JSON in the API's error shape under the API's prefixes (with a
    hint when the path only has a trailing slash too many), the 404 page elsewhere."""
    path = request.path
    if not re.match(settings.CORS_URLS_REGEX, path):  # the API's own paths, as CORS knows them
        return defaults.page_not_found(request, exception)
    message = f"No such endpoint: {request.method} {path}."
    if path.endswith("/") and _resolves(path.rstrip("/")):
        message += f" Did you mean {path.rstrip('/')} (no trailing slash)?"
    message += " The endpoints are listed at /api/docs/."
    if path.startswith("/api/process"):
        body = {"status": "error", "message": message}
    else:
        body = {"error": "Not Found", "message": message}
    return JsonResponse(body, status=404)


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True
