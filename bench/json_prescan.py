"""How long the JSON depth pre-scan takes next to json.loads, on bodies at the gateway's limit.

    .venv/bin/python -m bench.json_prescan

Prints one line per body: its size, the pre-scan's verdict and time, and json.loads' time (or
the exception it raises). No Django needed: the pre-scan is plain Python and numpy.
"""

from __future__ import annotations

import base64
import json
import os
import time

from lib.json_depth import MAX_JSON_DEPTH, json_nesting_exceeds

MB = 1024 * 1024


def bodies() -> dict[str, bytes]:
    image = base64.b64encode(os.urandom(20 * MB)).decode()  # MAX_UPLOAD_BYTES' default, as base64
    return {
        "one image, base64 (the gateway's largest body)": json.dumps(
            {"image_base64": "data:image/png;base64," + image, "upscale": 2, "webhook_events_filter": ["completed"]}
        ).encode(),
        "14M levels deep": b"[" * 14_000_000 + b"]" * 14_000_000,
        "9M empty lists, depth 2": b"[" + b",".join([b"[]"] * 9_000_000) + b"]",
        "7M escaped quotes in one string": json.dumps({"a": '"' * 7_000_000}).encode(),
        "9M empty strings": json.dumps([""] * 9_000_000).encode(),
    }


def timed(function, *args):
    began = time.perf_counter()
    try:
        result = function(*args)
    except BaseException as exc:
        result = type(exc).__name__
    return result, time.perf_counter() - began


def main() -> None:
    print(f"depth limit {MAX_JSON_DEPTH}")
    for name, raw in bodies().items():
        too_deep, scan_s = timed(json_nesting_exceeds, raw)
        parsed, parse_s = timed(json.loads, raw)
        parse_note = parsed if isinstance(parsed, str) else "ok"
        print(
            f"{name:48} {len(raw) / MB:6.1f} MiB  pre-scan {scan_s * 1000:7.1f} ms (too deep: {too_deep!s:5})"
            f"  json.loads {parse_s * 1000:7.1f} ms ({parse_note})"
        )


if __name__ == "__main__":
    main()
