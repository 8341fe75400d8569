"""The floor: a submission's own work with no Django, no DRF and no ORM (``--no-floor`` skips it).

A WSGI application, served by the same gunicorn (same worker class and counts, none of the
project's ``gunicorn.conf.py``) and driven by the same load, that does what one accepted
``POST /codeformer-image-restoration/v1/codeformer/generate`` must do on this machine, written as
directly as Python allows:

* read the key header, look the key up by prefix in one prepared statement (key, key set,
  organization, plan, wallet) and compare ``HMAC-SHA256(API_KEY_PEPPER, key)`` with its digest;
* count the request in Redis (one EVALSHA: a fixed one-minute window);
* read the JSON body, decode the base64, open and decode the image with Pillow (the project's
  own ``ml.imageio.probe_image_with_picture``) and PDQ-hash it (``lib.pdq``: both free of Django);
* write the input file;
* one admission statement in autocommit: the blocklist probe (the same multi-index look-up, 16
  chunk arrays), the conditional wallet UPDATE (balance, and the plan's cap on jobs in flight),
  and the job, its log line, its image hash and the ledger hold, all gated on the UPDATE, as the
  service's statement does;
* enqueue one message (one EVALSHA: the message body into a hash, its id onto the queue);
* answer 202 with a JSON body.

What it leaves out is what the service adds around that work: Django's request handling and
middleware, DRF's request, parsing, serializers and renderers, the ORM's model instances, the
project's validation of every parameter and header, pricing, spend limits, licences, logging and
the full response. So ``floor / pgbench`` bounds what this service's ``ratio`` can reach on the
machine (Python and gunicorn included), and ``service / floor`` is how much of it the Django
request cycle and the project's layers keep. It is a diagnostic, never a denominator: the
service's figures are compared with pgbench (fixed outside this code) and the keyless 401.

Configured by the environment of the server it runs in: ``FLOOR_DATABASE_URL``, ``REDIS_URL``,
``MEDIA_ROOT``, ``FLOOR_KEY_PEPPER``, and the service's own settings for what it must match:
``FLOOR_PRICE`` (what the service holds for the payload), ``FLOOR_PDQ_MIN_QUALITY`` and
``FLOOR_PDQ_MATCH_DISTANCE``. The rows it writes are the shape of the service's, on a
throw-away benchmark database; its messages go where the service's wait (no worker reads them
during the bench), in a shape of their own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid

import psycopg
import redis

from lib.pdq import CHUNK_HEX, CHUNKS, chunk_variant_arrays, pdq_of_picture
from ml.imageio import probe_image_with_picture

KEY_HEADER = "HTTP_OCP_APIM_SUBSCRIPTION_KEY"

KEY_SQL = """
SELECT k.id, k.digest, o.id, o.status, s.revoked_at, k.revoked_at, p.requests_per_minute, p.max_jobs_in_flight
FROM accounts_apikey k
JOIN accounts_subscription s ON s.id = k.subscription_id
JOIN accounts_organization o ON o.id = k.organization_id
JOIN billing_plan p ON p.id = o.plan_id
WHERE k.prefix = %s
"""

_PROBE = " OR ".join(
    f"SUBSTRING(pdq_hash, {1 + CHUNK_HEX * index}, {CHUNK_HEX}) = ANY(%(c{index})s::text[])" for index in range(CHUNKS)
)
ADMIT_SQL = f"""
WITH v AS (
  SELECT id FROM moderation_blockedhash
  WHERE ({_PROBE}) AND bit_count(pdq_bits # ('x' || %(hash)s)::bit(256)) <= %(radius)s
  LIMIT 1
), w AS (
  UPDATE billing_wallet SET held = held + %(price)s, in_flight = in_flight + 1, updated_at = now()
  WHERE organization_id = %(org)s AND balance - held >= %(price)s AND in_flight + 1 <= %(cap)s
    AND NOT EXISTS (SELECT 1 FROM v)
  RETURNING id, balance, held
), j AS (
  INSERT INTO jobs_job (id, organization_id, api_key_id, source, status, model, params, price, input_file,
    input_name, input_url, input_width, input_height, output_file, error, error_detail, webhook_url,
    webhook_events, base_url, request_fingerprint, attempts, worker_id, timings, created_at, updated_at,
    moderation_note)
  SELECT %(job)s, %(org)s, %(key)s, 'gateway', 'QUEUED', 'codeformer', %(params)s::jsonb, %(price)s, %(file)s,
    'image.png', '', %(width)s, %(height)s, '', '', '', '', '[]'::jsonb, '', '', 0, '', '{{}}'::jsonb, now(),
    now(), ''
  FROM w RETURNING id
), jl AS (
  INSERT INTO jobs_joblog (job_id, message, created_at) SELECT %(job)s, 'Request queued.', now() FROM j
), h AS (
  INSERT INTO moderation_imagehash (job_id, kind, pdq_hash, quality, created_at)
  SELECT %(job)s, 'input', %(hash)s, %(quality)s, now() FROM j ON CONFLICT DO NOTHING
), l AS (
  INSERT INTO billing_ledgerentry (wallet_id, organization_id, kind, amount, held_change, balance_after,
    held_after, idempotency_key, job_id, description, created_at)
  SELECT w.id, %(org)s, 'hold', 0, %(price)s, w.balance, w.held, %(hold_key)s, %(job)s, %(description)s, now()
  FROM w, j RETURNING id
)
SELECT (SELECT id FROM w), (SELECT id FROM l), (SELECT id FROM v)
"""
RATE_SCRIPT = "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('EXPIRE', KEYS[1], 60) end return n"
ENQUEUE_SCRIPT = "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) redis.call('RPUSH', KEYS[2], ARGV[1]) return 1"
PARAMS = json.dumps(
    {
        "model": "codeformer",
        "fidelity": 0.5,
        "upscale": 2,
        "background_enhance": True,
        "face_upsample": True,
        "only_center_face": False,
        "has_aligned": False,
    }
)


class _Process:
    """This worker's connections, opened on its first request (after gunicorn's fork)."""

    def __init__(self) -> None:
        self.db = psycopg.connect(os.environ["FLOOR_DATABASE_URL"], autocommit=True)
        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        self.rate = client.register_script(RATE_SCRIPT)
        self.enqueue = client.register_script(ENQUEUE_SCRIPT)
        self.pepper = os.environ["FLOOR_KEY_PEPPER"].encode()
        self.media = os.environ["MEDIA_ROOT"]
        self.queue = os.environ["DRAMATIQ_NAMESPACE"] + ":gpu"
        self.price = int(os.environ["FLOOR_PRICE"])
        self.min_quality = int(os.environ["FLOOR_PDQ_MIN_QUALITY"])
        self.radius = int(os.environ["FLOOR_PDQ_MATCH_DISTANCE"])


_process: _Process | None = None


def _answer(start_response, status: str, payload: dict) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    global _process
    if _process is None:
        _process = _Process()
    here = _process
    raw_key = environ.get(KEY_HEADER, "")
    # cf_<12-character prefix>_<secret>; the secret may itself contain "_".
    prefix = raw_key[3:15] if raw_key.startswith("cf_") and raw_key[15:16] == "_" else None
    row = here.db.execute(KEY_SQL, (prefix,), prepare=True).fetchone() if prefix else None
    digest = hmac.new(here.pepper, raw_key.encode(), hashlib.sha256).hexdigest()
    if row is None or not hmac.compare_digest(row[1], digest):
        return _answer(start_response, "401 Unauthorized", {"error": {"code": "unauthorized"}})
    key_id, organization_id, status, set_revoked, key_revoked, per_minute, cap = row[0], *row[2:]
    if status != "active" or set_revoked or key_revoked:
        return _answer(start_response, "403 Forbidden", {"error": {"code": "forbidden"}})
    if here.rate(keys=[f"{here.queue}:floor-rate:{organization_id}:{int(time.time() // 60)}"]) > per_minute:
        return _answer(start_response, "429 Too Many Requests", {"error": {"code": "rate_limited"}})
    body = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
    data = base64.b64decode(body["image_base64"], validate=True)
    probed = probe_image_with_picture(data, max_pixels=40_000_000, at_least=64)
    pdq = pdq_of_picture(probed.picture)
    job_id = uuid.uuid4()
    name = f"inputs/{organization_id}/{job_id}.{probed.info.format.lower()}"
    path = os.path.join(here.media, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    request_id = f"codeformer-image-restoration_{job_id}"
    chunks = chunk_variant_arrays(pdq.hex, radius=1) if pdq.quality >= here.min_quality else ["{}"] * CHUNKS
    params = {f"c{index}": chunk for index, chunk in enumerate(chunks)}
    params.update(
        price=here.price,
        radius=here.radius,
        cap=cap,
        org=organization_id,
        job=job_id,
        key=key_id,
        params=PARAMS,
        file=name,
        width=probed.info.width,
        height=probed.info.height,
        hash=pdq.hex,
        quality=pdq.quality,
        hold_key=f"job:{job_id}:hold",
        description=f"Hold for {request_id}",
    )
    wallet, _entry, blocked = here.db.execute(ADMIT_SQL, params, prepare=True).fetchone()
    if wallet is None:
        os.unlink(path)
        code = ("400 Bad Request", "blocked") if blocked is not None else ("402 Payment Required", "insufficient")
        return _answer(start_response, code[0], {"error": {"code": code[1]}})
    message = {
        "queue_name": "gpu",
        "actor_name": "process_job",
        "args": [str(job_id)],
        "kwargs": {},
        "options": {},
        "message_id": str(uuid.uuid4()),
        "message_timestamp": int(time.time() * 1000),
    }
    here.enqueue(keys=[f"{here.queue}.msgs", here.queue], args=[message["message_id"], json.dumps(message)])
    return _answer(
        start_response,
        "202 Accepted",
        {
            "id": request_id,
            "status": "QUEUED",
            "polling_url": f"/codeformer-image-restoration/v1/codeformer/status/{request_id}",
        },
    )
