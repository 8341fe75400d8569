"""How deeply a JSON document nests, measured without parsing it (so without recursion).

``json.loads`` recurses once per nesting level: a few thousand ``[`` end in ``RecursionError``
after the whole body was read. The API refuses bodies past ``MAX_JSON_DEPTH`` before parsing.
"""

from __future__ import annotations

import numpy as np

# Our own bodies nest two levels (an object holding a list); 32 leaves room without letting a
# hostile body near the interpreter's recursion limit.
MAX_JSON_DEPTH = 32

_KEEP = b'"[]{}'
_DROP = bytes(byte for byte in range(256) if byte not in _KEEP)
_STEP = np.zeros(256, dtype=np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
_CHUNK = 1 << 20


def json_nesting_exceeds(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether UTF-8 JSON ``raw`` nests containers deeper than ``limit``, without parsing it.

    Cheap on a ~28 MB base64 body (tens of milliseconds, see bench/json_prescan): escaped
    backslashes and quotes are dropped, then everything but quotes and brackets (C-speed bytes
    operations); on what is left, numpy counts the quotes before each bracket (odd: inside a
    string, ignored) and keeps a running depth. Work is in 1 MiB slices so memory stays flat
    however many brackets a hostile body has. An unterminated string can make a broken body look
    deeper than it is; that body is not valid JSON and is refused either way.
    """
    if b"\\" in raw:
        # Left to right, as JSON reads escapes: a pair of backslashes first, then \" .
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = raw.translate(None, _DROP)
    depth = quotes = 0
    for start in range(0, len(skeleton), _CHUNK):
        chars = np.frombuffer(skeleton, dtype=np.uint8, count=min(_CHUNK, len(skeleton) - start), offset=start)
        quotes_so_far = np.cumsum(chars == ord('"'), dtype=np.int64) + quotes
        steps = np.where(quotes_so_far & 1, 0, _STEP[chars])
        running = np.cumsum(steps, dtype=np.int64) + depth
        if int(running.max()) > limit:
            return True
        depth, quotes = int(running[-1]), int(quotes_so_far[-1])
    return False
