from __future__ import annotations

from rest_framework import status

from config.errors import ApplicationError, BadRequest, NotFound


class ImageRefused(BadRequest):
    """An input matches the blocklist. Not charged; nothing is stored but the queue item."""

    default_message = "This image cannot be processed: it matches an image our trust and safety team has blocked."


class ReportTargetNotFound(NotFound):
    default_message = "No result matches this URL or request id."


class ChallengeFailed(BadRequest):
    default_message = "The anti-bot check failed; reload the form and try again."


class StaffRoleRequired(ApplicationError):
    status_code = status.HTTP_403_FORBIDDEN
    title = "Forbidden"
    default_message = "Only trust and safety admins may do this."


class InvalidHash(BadRequest):
    default_message = "A PDQ hash is 64 hexadecimal digits."
