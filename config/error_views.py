"""The HTML pages' last resort: Django's ``handler500``, telling a database outage from a bug.

Django calls ``handler500`` while the uncaught exception is being handled, so ``sys.exc_info()``
names it. A database that cannot be reached (refused, hung past the connect timeout, connection
lost) is the same 503 the APIs answer (``config.errors.DatabaseUnavailable``), here as a page
with ``Retry-After``, so a browser, a load balancer and the person reading it all know it is
temporary. Anything else is the ordinary 500 page. Neither page touches the database: both render
without a request context (no user, no organization), as Django's own ``server_error`` does.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template import loader
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
