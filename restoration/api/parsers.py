"""Request parsers of the API: JSON bounded in size and nesting depth before it is parsed.

``json.loads`` recurses once per nesting level, so a body of a few thousand ``[`` ends in a
``RecursionError`` (a 500) after the whole body was read. ``BoundedJSONParser`` reads at most the
view's body limit (a chunked or lying stream cannot make it read more) and refuses a body nested
deeper than ``MAX_JSON_DEPTH`` with a 400 before ``json.loads`` sees it.
"""

from __future__ import annotations

import codecs

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json

from lib.json_depth import MAX_JSON_DEPTH, json_nesting_exceeds
from restoration.errors import ImageTooLarge as RequestTooLarge
from restoration.errors import InvalidInput

__all__ = ["MAX_JSON_DEPTH", "BoundedJSONParser", "json_nesting_exceeds"]


def body_limit_of(parser_context: dict | None) -> int:
    view = (parser_context or {}).get("view")
    if view is not None and hasattr(view, "body_limit"):
        return view.body_limit()
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = body_limit_of(parser_context)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise RequestTooLarge(f"The request body is over the limit of {limit:,} bytes.")
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        utf8 = raw if codecs.lookup(encoding).name == "utf-8" else text.encode("utf-8")
        if json_nesting_exceeds(utf8):
            raise InvalidInput(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.")
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
