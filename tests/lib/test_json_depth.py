"""The JSON depth pre-scan agrees with the depth json.loads finds, strings and escapes included."""

from __future__ import annotations

import json

import pytest

from lib.json_depth import MAX_JSON_DEPTH, json_nesting_exceeds


def depth_of(value) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


def nest(depth: int, *, opener="[", closer="]") -> bytes:
    return (opener * depth + closer * depth).encode()


CASES = [
    pytest.param(b'{"a": 1}', id="flat"),
    pytest.param(b"[]", id="empty-list"),
    pytest.param(b'"just a string with [[[[ and {{{{"', id="string-only"),
    pytest.param(json.dumps({"k": "\\" * 7 + "[[[" * 40}).encode(), id="backslashes-then-brackets"),
    pytest.param(json.dumps({"k": '"' * 50 + "[" * 50}).encode(), id="escaped-quotes"),
    pytest.param(json.dumps({"k": "\\"}).encode() + b" ", id="string-ending-in-a-backslash"),
    pytest.param(json.dumps([{"a": [1, {"b": [[]]}]}, "]]]]"]).encode(), id="mixed"),
    pytest.param(json.dumps({"[" * 40: {"}" * 40: []}}).encode(), id="brackets-in-keys"),
    pytest.param(json.dumps("[" * 10 + "é✓" + "{" * 40, ensure_ascii=False).encode(), id="utf8"),
]


@pytest.mark.parametrize("raw", CASES)
def test_the_prescan_agrees_with_the_parsed_depth(raw):
    assert json_nesting_exceeds(raw, limit=4) == (depth_of(json.loads(raw)) > 4)


@pytest.mark.parametrize(("depth", "too_deep"), [(MAX_JSON_DEPTH, False), (MAX_JSON_DEPTH + 1, True)])
def test_the_limit_is_exact(depth, too_deep):
    assert json_nesting_exceeds(nest(depth)) is too_deep
    assert json_nesting_exceeds(nest(depth, opener="{", closer="}")) is too_deep


def test_depth_is_carried_across_the_scan_slices():
    # Two million list levels would be read slice by slice (1 MiB each).
    wide_then_deep = b"[" + b"[]," * 500_000 + nest(MAX_JSON_DEPTH) + b"]"
    assert json_nesting_exceeds(wide_then_deep)
    string_across_slices = b'["' + b"[" * (3 << 20) + b'"]'
    assert not json_nesting_exceeds(string_across_slices)
