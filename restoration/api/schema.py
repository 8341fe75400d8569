"""OpenAPI pieces drf-spectacular cannot infer: the subscription-key security scheme, and the
guide that opens the reference."""

from __future__ import annotations

from django.conf import settings
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


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def api_guide() -> str:
    """The reference's opening pages (Markdown; ReDoc lists each heading in its menu): what every
    endpoint shares, money, limits and headers, results, and webhooks, with this deployment's
    figures (retry schedule, link lifetime), so the reference and the service cannot disagree."""
    from billing.notify import EVENT_TYPES

    delays = list(settings.WEBHOOK_RETRY_DELAYS_S)
    schedule = ", ".join(_duration(delay) for delay in delays)
    billing_events = ", ".join(f"`{name}`" for name in sorted(EVENT_TYPES.values()))
    link_minutes = settings.MEDIA_URL_TTL_S // 60
    return f"""Restore faces in photos with CodeFormer. The **gateway API** queues a restoration and
answers at once (`202` with a `request_id` and a `polling_url`); the **demo API** restores in the
same call.

## Authentication
Send your subscription key (`cf_<prefix>_<secret>`, from the dashboard's *API keys* page) in the
`Ocp-Apim-Subscription-Key` header, or as `Authorization: Bearer <key>`. The `subscription-key`
query parameter exists for a browser's `EventSource`, which cannot send headers; prefer the header
everywhere else (URLs end up in logs). A key spends the organization's wallet: keep it on your
servers, not in public pages.

## Money
A restoration's price is held on the wallet when it is accepted. A **completed** restoration is
charged its price; a **failed**, **errored** or **canceled** one is released and costs nothing.
When the wallet's available balance cannot cover the price the answer is `402` and nothing is
queued. Prices by upscale are on the landing page and in the dashboard's *Wallet*. Each status
object (polls, `/v2/requests`, webhooks) carries `cost`: `price`, `charged` and `refunded` in minor
units (cents) of `currency`; what the wallet paid is `charged - refunded`.

## Limits and response headers
- **Requests per minute** belong to the organization: all its keys share them, and polls and
  streams count as well as submissions. Every keyed answer carries `RateLimit-Limit`,
  `RateLimit-Remaining`, `RateLimit-Reset` (seconds) and `RateLimit-Policy`; past the limit the
  answer is `429` with `Retry-After`. Poll every 5 seconds or more, or use webhooks.
- **Requests in flight** (queued or processing) are capped by the plan: past the cap, `429` with
  `Retry-After` and a message saying so; the `RateLimit-*` headers still describe the request rate.
- **A plan's monthly image quota**, where it has one: `429` until the quota renews.
- `X-Request-ID`: every answer has one (yours, when you send a sane one); quote it to support.
- `Idempotency-Key` (see *generate*): a retry answers the first request again with
  `Idempotent-Replayed: true`. `Prefer: wait=N`: the answer says `Preference-Applied: wait=N` when
  it waited for the result.
- Every error is JSON: `{{"error": ..., "message": ...}}` on the gateway (the message says what to
  fix), `{{"status": "error", "message": ...}}` on the demo API.

## Results
A completed request's `output.media_url` links are signed and work for {link_minutes} minutes: do not
store them; read the request's status again for fresh links. The files themselves are kept for
the plan's retention period (`retention.expires_at` in the status object), then deleted.

## Webhooks
Pass `webhook` (or the `X-Webhook-URL` header) with a submission to be called about that request,
or add endpoints on the dashboard's *Webhooks* page to hear about every request and about billing.

- **Events**: `start`, `output`, `logs` and `completed` (sent for failed, errored and canceled
  requests too); choose among them with `webhook_events_filter`. The body is the request's status
  object, as `GET /v2/requests/status/{{request_id}}` answers it. Endpoints can also receive
  {billing_events} and a `test` event; those bodies are `{{"id", "type", "created_at",
  "organization", "message", "data"}}`.
- **Headers** ([Standard Webhooks](https://www.standardwebhooks.com/)): `webhook-id` (the same on
  every retry and replay of a delivery: skip one you already handled), `webhook-timestamp`,
  `webhook-signature` (`v1,<base64 HMAC-SHA256>`; two of them while a rotated secret overlaps) and
  `webhook-event`. Verify them with the `standardwebhooks` library (PyPI, npm) and your
  organization's signing secret, from the dashboard's *Settings*, before trusting the body.
- **Delivery**: a `POST` of JSON. Any `2xx` answer within {settings.WEBHOOK_TIMEOUT_S} s is a success;
  redirects are not followed. Otherwise it is tried again after {schedule}, then given up; every
  attempt is listed on the dashboard's *Webhooks* page, where a delivery can be replayed.
- **Receivers must be public**: a URL on a private, loopback or link-local address is refused
  (`400`), so that the service cannot be pointed at internal networks. To try webhooks from your
  machine, expose the receiver through a tunnel, or use *Send a test event* on an endpoint's page.
"""


def add_guide(result, generator, request, public):
    """drf-spectacular postprocessing hook: the guide above as the reference's description."""
    result.setdefault("info", {})["description"] = api_guide()
    return result
