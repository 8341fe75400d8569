"""Abuse reports from anyone: the anti-bot challenge, the per-address rate limit, and finding the
job a report points at.

The challenge is a signed, time-stamped token (``django.core.signing``) carrying a small sum to
solve, used once, not answered sooner than ``ABUSE_REPORT_MIN_SECONDS`` after it was issued (a
person reads the form; a script posts at once) and not later than ``ABUSE_REPORT_CHALLENGE_MAX_AGE_S``;
plus a honeypot field people never see. The form page is CSRF-protected as usual; the JSON endpoint
takes no cookies or credentials, so a forged cross-site request carries no authority to abuse.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from limits import RateLimitItemPerHour

from accounts.errors import RateLimited
from accounts.ratelimit import get_limiter
from config.errors import ServiceUnavailable
from jobs.models import Job
from lib.clientip import client_ip
from moderation.errors import ChallengeFailed, ReportTargetNotFound

_SALT = "moderation.report-challenge"
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
logger = logging.getLogger(__name__)
RATE_NAMESPACE = "abuse-report"


@dataclass(frozen=True)
class Challenge:
    token: str
    question: str


def challenge_issue(*, now: float | None = None) -> Challenge:
    a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    issued = time.time() if now is None else now
    token = signing.dumps({"a": a, "b": b, "t": issued, "n": secrets.token_hex(8)}, salt=_SALT)
    return Challenge(token=token, question=f"What is {a} + {b}?")


def challenge_verify(*, token: str, answer, honeypot: str = "") -> None:
    """Raise ChallengeFailed (400) unless the token is genuine, fresh, unused and answered right,
    and the honeypot is empty."""
    if honeypot:
        raise ChallengeFailed()
    try:
        data = signing.loads(token or "", salt=_SALT, max_age=settings.ABUSE_REPORT_CHALLENGE_MAX_AGE_S)
    except signing.BadSignature as exc:  # SignatureExpired is a subclass
        raise ChallengeFailed() from exc
    if time.time() - float(data.get("t", 0)) < settings.ABUSE_REPORT_MIN_SECONDS:
        raise ChallengeFailed("That was quicker than a person reads the form; please try again.")
    try:
        correct = int(str(answer).strip()) == int(data["a"]) + int(data["b"])
    except (TypeError, ValueError, KeyError):
        correct = False
    if not correct:
        raise ChallengeFailed("The answer to the question is not right.")
    if not cache.add(f"{RATE_NAMESPACE}:used:{data['n']}", 1, timeout=settings.ABUSE_REPORT_CHALLENGE_MAX_AGE_S):
        raise ChallengeFailed("This form was already sent; reload it to send another report.")


def report_rate_enforce(request) -> None:
    """Count one report attempt from the client's address; 429 past the hourly budget."""
    item = RateLimitItemPerHour(settings.ABUSE_REPORTS_PER_HOUR, namespace=RATE_NAMESPACE)
    limiter = get_limiter()
    identifier = ip_digest(client_ip(request))
    try:
        allowed = limiter.hit(item, identifier)
        reset = None if allowed else limiter.get_window_stats(item, identifier).reset_time
    except Exception as exc:
        # Unlike the API's rate limit this one fails closed: the form is anonymous, so without
        # its counter nothing stops a flood. A clear 503, not a 500.
        logger.warning("abuse-report counter unavailable: %s", exc)
        raise ServiceUnavailable(
            "Reports cannot be accepted for a moment; please try again in a minute.", headers={"Retry-After": "60"}
        ) from None
    if not allowed:
        retry_after = max(1, int(reset - time.time()))
        raise RateLimited(
            f"Too many reports from this address; try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )


def ip_digest(ip: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"abuse-report-ip:{ip}".encode(), hashlib.sha256).hexdigest()


def report_target_job(target: str) -> Job:
    """The job a result URL, media link or request id points at (any UUID in it that is a job:
    media links carry the job id, S3 keys the organization's id and then the job's)."""
    found = []
    for match in _UUID.findall(target or ""):
        try:
            found.append(uuid.UUID(match))
        except ValueError:
            continue
    if found:
        job = Job.objects.filter(id__in=found).select_related("organization").first()
        if job is not None:
            return job
    raise ReportTargetNotFound()
