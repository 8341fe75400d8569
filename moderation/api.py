"""``/api/abuse-reports``: report a result without an account.

``GET /api/abuse-reports/challenge`` hands out the anti-bot question and its signed token;
``POST /api/abuse-reports`` files the report (201 with the reference to quote). Rate limited per
client address; no cookies or credentials are read, so there is no session for a forged
cross-site request to ride on.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from lib.clientip import client_ip
from moderation.models import AbuseReport
from moderation.reporting import (
    challenge_issue,
    challenge_verify,
    ip_digest,
    report_rate_enforce,
    report_target_job,
)
from moderation.services import report_create
from restoration.api.base import JSONErrorsAPIView
from restoration.api.serializers import ErrorResponse
from restoration.errors import InvalidInput

REPORT_RECEIVED = "Thank you. Our trust and safety team will review the report; quote the reference if you write to us."


class ChallengeResponse(serializers.Serializer):
    token = serializers.CharField()
    question = serializers.CharField()


@extend_schema_serializer(component_name="Report")  # documented as ReportRequest, not ReportRequestRequest
class ReportRequest(serializers.Serializer):
    """An abuse report about a restoration: what it is, why it should not exist, and the answer to
    the challenge that keeps automated reports out."""

    target = serializers.CharField(max_length=2000, help_text="The result URL or the request id.")
    category = serializers.ChoiceField(choices=AbuseReport.Category.choices)
    details = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")
    contact_email = serializers.EmailField(required=False, allow_blank=True, default="")
    challenge = serializers.CharField(max_length=500, help_text="The token from the challenge endpoint.")
    answer = serializers.CharField(max_length=10, help_text="The answer to the challenge's question.")
    website = serializers.CharField(required=False, allow_blank=True, default="", help_text="Leave empty.")


class ReportResponse(serializers.Serializer):
    reference = serializers.CharField()
    message = serializers.CharField()


class _PublicView(JSONErrorsAPIView):
    authentication_classes: list = []
    permission_classes: list = []
    error_style = "gateway"


class ReportChallengeView(_PublicView):
    @extend_schema(
        operation_id="abuse_report_challenge",
        summary="Get an abuse-report challenge",
        tags=["Trust and safety"],
        auth=[],
        responses={200: ChallengeResponse},
    )
    def get(self, request: Request) -> Response:
        challenge = challenge_issue()
        return Response({"token": challenge.token, "question": challenge.question})


class ReportView(_PublicView):
    @extend_schema(
        operation_id="abuse_report_create",
        summary="Report abuse",
        description="No account needed. Rate limited per address (429 with Retry-After).",
        tags=["Trust and safety"],
        auth=[],
        request=ReportRequest,
        responses={
            201: ReportResponse,
            400: OpenApiResponse(ErrorResponse, description="Invalid fields or a failed challenge."),
            404: OpenApiResponse(ErrorResponse, description="No result matches the URL or request id."),
            429: OpenApiResponse(ErrorResponse, description="Too many reports from this address."),
        },
    )
    def post(self, request: Request) -> Response:
        report_rate_enforce(request)
        form = ReportRequest(data=request.data)
        if not form.is_valid():
            raise InvalidInput(_errors(form.errors))
        data = form.validated_data
        challenge_verify(token=data["challenge"], answer=data["answer"], honeypot=data["website"])
        job = report_target_job(data["target"])
        report = report_create(
            job=job,
            target=data["target"],
            category=data["category"],
            details=data["details"],
            contact_email=data["contact_email"],
            ip_digest=ip_digest(client_ip(request)),
        )
        return Response({"reference": report.reference, "message": REPORT_RECEIVED}, status=status.HTTP_201_CREATED)


def _errors(errors: dict) -> str:
    return "; ".join(f"{field}: {' '.join(str(m) for m in messages)}" for field, messages in errors.items())
