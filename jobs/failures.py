"""What a customer reads when a job does not complete, and what the operator reads.

``Job.error`` reaches customers (the status object's ``error``, webhooks, the dashboard, the
job's log): it says what went wrong and what to do about it, never a server path, a checkpoint
name or an operator command. The engine's own message, which may name those (``run python
manage.py fetch_weights``), goes to ``Job.error_detail`` (admin and staff console) and the
worker's log.
"""

from __future__ import annotations

import traceback

from ml.errors import InvalidImage, ModelNotEnabled, RestorationFailed, WeightsError

NOT_CHARGED = "You were not charged."
SUPPORT = "If it keeps happening, contact support with this request id."


class InputMissing(Exception):
    """The input file is gone (deleted by moderation or retention before the job ran)."""


UNAVAILABLE = (
    f"The restoration model is not available on our servers right now, so this photo was not restored. "
    f"{NOT_CHARGED} Please try again later. {SUPPORT}"
)
FAILED_ON_OUR_SIDE = (
    f"The restoration failed on our side while processing this photo. {NOT_CHARGED} Please try again. {SUPPORT}"
)
UNEXPECTED = f"The restoration failed unexpectedly on our side. {NOT_CHARGED} Please try again. {SUPPORT}"
INPUT_GONE = (
    f"The uploaded photo was no longer stored when the job started (it was removed after the retention "
    f"period or by moderation). {NOT_CHARGED} Upload the photo again to restore it."
)


def invalid_image_text(exc: InvalidImage) -> str:
    """The decoder's reason (written for people: "the file is empty", "image has 50,000,000
    pixels; the limit is 40,000,000") and what to send instead."""
    reason = str(exc).strip().rstrip(".") or "The file is not an image we can read"
    reason = reason[0].upper() + reason[1:]
    return f"{reason}. Send a complete photo (PNG, JPEG, WebP, BMP or TIFF) within the size limits and try again. {NOT_CHARGED}"


def time_limit_text(limit_s: int) -> str:
    return (
        f"Processing took longer than the {limit_s}-second time limit, so it was stopped. {NOT_CHARGED} "
        "Try a smaller photo or a lower upscale factor."
    )


def worker_lost_text(attempts: int) -> str:
    return (
        f"The worker processing this photo stopped responding ({attempts} attempts). {NOT_CHARGED} "
        "Please submit it again."
    )


def customer_text(exc: BaseException) -> str:
    if isinstance(exc, InvalidImage):
        return invalid_image_text(exc)
    if isinstance(exc, (WeightsError, ModelNotEnabled)):
        return UNAVAILABLE
    if isinstance(exc, RestorationFailed):
        return FAILED_ON_OUR_SIDE
    if isinstance(exc, InputMissing):
        return INPUT_GONE
    return UNEXPECTED


def operator_detail(exc: BaseException) -> str:
    """The exception as the operator needs it: its type, message and where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = "; ".join(f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in frames)
    detail = f"{type(exc).__name__}: {exc}"
    return f"{detail} (at {where})" if where else detail
