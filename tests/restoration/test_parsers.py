"""The bounded JSON parser: its read is capped at the view's limit, its depth checked first."""

from __future__ import annotations

import io
import json

import pytest
from rest_framework.exceptions import ParseError

from config.errors import PayloadTooLarge
from restoration.api.parsers import BoundedJSONParser
from restoration.errors import InvalidInput


class View:
    def __init__(self, limit: int):
        self.limit = limit

    def body_limit(self) -> int:
        return self.limit


class CountingStream(io.BytesIO):
    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def test_the_parser_reads_at_most_one_byte_past_the_views_limit():
    stream = CountingStream(b"[" + b" " * 10_000 + b"]")
    with pytest.raises(PayloadTooLarge):
        BoundedJSONParser().parse(stream, "application/json", {"view": View(100)})
    assert stream.bytes_read == 101


def test_the_parser_parses_a_body_within_the_limit():
    raw = json.dumps({"a": [1, 2, {"b": None}]}).encode()
    assert BoundedJSONParser().parse(io.BytesIO(raw), "application/json", {"view": View(len(raw))}) == {
        "a": [1, 2, {"b": None}]
    }


def test_the_parser_scans_other_charsets_after_decoding():
    raw = ("[" * 40 + "]" * 40).encode("utf-16")
    with pytest.raises(InvalidInput):
        BoundedJSONParser().parse(io.BytesIO(raw), "application/json", {"view": View(10_000), "encoding": "utf-16"})


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe\xfa", b"NaN", b'{"a": Infinity}'])
def test_the_parser_refuses_bad_json_with_a_parse_error(raw):
    with pytest.raises(ParseError):
        BoundedJSONParser().parse(io.BytesIO(raw), "application/json", {"view": View(10_000)})
