"""JSON the dashboard's own pages fetch, for the signed-in member (session and CSRF, like the
pages themselves). Errors take the gateway's ``{error, message}`` shape through the one handler."""

from __future__ import annotations

from django.conf import settings
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.pricing import price_lines
from billing.selectors import wallet_for
from config.errors import Unauthorized
from jobs.types import JobParams
from ml.options import MAX_UPSCALE, MIN_UPSCALE
from restoration.api.base import check_model_enabled
from restoration.api.fields import StrictBooleanField, StrictIntegerField
from restoration.api.serializers import StrictSerializer, model_field
from restoration.dashboard.tenancy import current_membership
from restoration.errors import InvalidInput
from restoration.templatetags.dashboard_tags import money


class MemberAPIView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes: list = []

    def initial(self, request: Request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        user = getattr(request._request, "user", None)
        membership = current_membership(request._request) if user is not None and user.is_authenticated else None
        if membership is None:
            raise Unauthorized("Sign in to the dashboard first.")
        self.organization = membership.organization


class PriceQuery(StrictSerializer):
    upscale = StrictIntegerField(min_value=MIN_UPSCALE, max_value=MAX_UPSCALE, default=2)
    background_enhance = StrictBooleanField(default=False)
    face_upsample = StrictBooleanField(default=False)
    count = StrictIntegerField(min_value=1, max_value=10_000, default=1)
    model = model_field()


class PriceQuoteView(MemberAPIView):
    """The price of one submission with these options, from the price table ``job_submit`` charges."""

    schema = None  # a dashboard endpoint, not part of the public API document

    def get(self, request: Request) -> Response:
        query = PriceQuery(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        fields = query.validated_data
        check_model_enabled(fields["model"])
        if fields["count"] > settings.MAX_IMAGES_PER_REQUEST:
            raise InvalidInput(f"count: at most {settings.MAX_IMAGES_PER_REQUEST} photos per submission.")
        params = JobParams.from_values(fields)
        lines = price_lines(params, plan=self.organization.plan)
        unit = sum(line.amount for line in lines)
        total = unit * fields["count"]
        wallet = wallet_for(self.organization)
        return Response(
            {
                "currency": wallet.currency,
                "unit_amount": unit,
                "count": fields["count"],
                "total": total,
                "unit_display": money(unit, wallet.currency),
                "total_display": money(total, wallet.currency),
                "available": wallet.available,
                "available_display": money(wallet.available, wallet.currency),
                "enough": wallet.available >= total,
                "lines": [
                    {
                        "code": line.code,
                        "quantity": line.quantity,
                        "unit_amount": line.unit_amount,
                        "amount": line.amount,
                    }
                    for line in lines
                ],
            }
        )
