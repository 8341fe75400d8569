"""Subscription keys out of what is logged.

A key may arrive as the ``subscription-key`` query parameter (browsers' EventSource cannot send
headers), so the request lines and referrers that access logs print can carry one, and anyone
who reads the logs could then call the API on the customer's wallet. Every log line that prints
a URL goes through ``redact_keys``: a key in our format keeps its public prefix (the dashboard
shows it too, and support needs it) and loses its secret; whatever follows ``subscription-key=``
is dropped even when it is not a well-formed key.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# cf_<12-character prefix>_<32-character secret> (accounts.keys), anywhere in the text.
_KEY = re.compile(r"\b(cf_[a-z0-9]{12}_)[A-Za-z0-9_-]{32}(?![A-Za-z0-9_-])")
_QUERY_KEY = re.compile(r"(?i)((?:^|[?&;])subscription-key=)([^&;#\s\"']*)")
_REDACTED_KEY = re.compile(r"cf_[a-z0-9]{12}_" + re.escape(REDACTED))


def redact_keys(text: str) -> str:
    if not text:
        return text
    text = _KEY.sub(lambda match: match.group(1) + REDACTED, text)
    return _QUERY_KEY.sub(_redact_value, text)


def _redact_value(match: re.Match) -> str:
    value = match.group(2)
    return match.group(0) if _REDACTED_KEY.fullmatch(value) else match.group(1) + REDACTED


class RedactKeysFilter(logging.Filter):
    """For log handlers: a record whose message carries a key is rewritten without it (the dev
    server's request lines, say, which print the query string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_keys(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True
