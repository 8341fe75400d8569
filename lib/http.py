"""``require_POST`` for pages: a browser that opens a form's target with GET (a bookmark, a
refresh after a redirect, the back button) gets a page that says so, with a way on, instead of
Django's empty 405."""

from __future__ import annotations

import functools

from django.shortcuts import render
from django.views.decorators.http import require_POST as _require_post


def require_POST(view):
    checked = _require_post(view)

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method in ("GET", "HEAD"):
            response = render(request, "405.html", status=405)
            response["Allow"] = "POST"
            return response
        return checked(request, *args, **kwargs)

    return wrapper
