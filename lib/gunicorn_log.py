"""gunicorn's access log without subscription keys (gunicorn.conf.py names this class).

The default access-log format prints the request line (``%(r)s``, query string included) and the
referrer (``%(f)s``); formats may also print any request header (``%({name}i)s``). A key sent as
the ``subscription-key`` query parameter, or in the ``Ocp-Apim-Subscription-Key`` or
``Authorization`` header, is redacted before the line is written (``lib.redact``).
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from lib.redact import REDACTED, redact_keys

_URL_ATOMS = ("r", "q", "f", "U")
_SECRET_HEADERS = ("{ocp-apim-subscription-key}i", "{authorization}i", "{cookie}i")


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in _URL_ATOMS:
            if isinstance(atoms.get(name), str):
                atoms[name] = redact_keys(atoms[name])
        for name in _SECRET_HEADERS:
            if atoms.get(name):
                atoms[name] = REDACTED
        return atoms
