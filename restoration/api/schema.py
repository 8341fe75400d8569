"""OpenAPI pieces drf-spectacular cannot infer: the subscription-key security scheme."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class SubscriptionKeyScheme(OpenApiAuthenticationExtension):
    """The key travels in the ``Ocp-Apim-Subscription-Key`` header (also accepted: ``Authorization:
    Bearer <key>`` and the ``subscription-key`` query parameter)."""

    target_class = "accounts.authentication.SubscriptionKeyAuthentication"
    name = ["SubscriptionKey", "BearerKey", "SubscriptionKeyQuery"]

    def get_security_requirement(self, auto_schema):
        return [{name: []} for name in self.name]  # any one of them (OR), not all together

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Ocp-Apim-Subscription-Key",
                "description": "Your subscription key (cf_<prefix>_<secret>).",
            },
            {"type": "http", "scheme": "bearer", "description": "The subscription key as a bearer token."},
            {
                "type": "apiKey",
                "in": "query",
                "name": "subscription-key",
                "description": "The subscription key as a query parameter.",
            },
        ]
