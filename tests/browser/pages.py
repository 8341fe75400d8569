"""Every page of the dashboard with data on it, for the width test and ``make screenshots``.

``dashboard_with_data`` fills one organization the way real use does (through the services the
API uses): a completed job with a long file name, a failed one, one still queued with a webhook,
a key set with a long name, ledger entries. ``page_urls`` lists the pages to visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_network

from accounts.services import subscription_create
from jobs.engine import reset_engine
from jobs.services import job_run, job_submit
from jobs.types import ImageInput, JobParams
from ml.errors import WeightsError
from tests.dashboard.conftest import png_bytes
from tests.jobs.engines import FakeEngine

LONG_NAME = "family-reunion-at-the-lake-house-summer-1987-scan-from-the-original-print-600dpi.png"


@dataclass
class Filled:
    completed: object
    failed: object
    queued: object
    endpoint: object = None
    delivery: object = None


def _image(name: str) -> ImageInput:
    return ImageInput(data=png_bytes(48, 40), name=name, width=48, height=40, format="PNG")


def dashboard_with_data(organization, settings) -> Filled:
    settings.RESTORATION_ENGINE = "tests.jobs.engines.FakeEngine"
    reset_engine()
    FakeEngine.reset()
    params = JobParams(upscale=2, background_enhance=False, face_upsample=False)

    def submit(name, **extra):
        jobs, _ = job_submit(organization=organization, params=params, images=[_image(name)], source="gateway", **extra)
        return jobs[0]

    completed = job_run(job_id=submit(LONG_NAME).id)
    FakeEngine.fail_with = WeightsError("/srv/weights/codeformer.pth is missing: run `python manage.py fetch_weights`")
    failed = job_run(job_id=submit("broken.png").id)
    FakeEngine.reset()
    # A receiver on this machine (no DNS here); nothing delivers to it: no webhooks worker runs.
    settings.OUTBOUND_ALLOWED_NETWORKS = [ip_network("127.0.0.1/32")]
    queued = submit("waiting.png", webhook_url="http://127.0.0.1:9/codeformer/callbacks/receiver-endpoint-for-tests")
    subscription_create(organization=organization, name="Production image pipeline on the east-coast cluster")
    endpoint, delivery = _webhook_endpoint_with_an_attempt(organization)
    reset_engine()
    return Filled(completed=completed, failed=failed, queued=queued, endpoint=endpoint, delivery=delivery)


def _webhook_endpoint_with_an_attempt(organization):
    """An endpoint with a long URL and every event, and a test delivery whose one attempt (as
    jobs.webhooks records it) has long headers, a JSON body and a long answer."""
    import json

    from jobs.endpoints import endpoint_events, webhook_endpoint_create, webhook_endpoint_send_test
    from jobs.models import WebhookAttempt
    from jobs.webhooks import signed_headers

    endpoint = webhook_endpoint_create(
        organization=organization,
        url="http://127.0.0.1:9/codeformer/callbacks/organization-wide-receiver-endpoint-for-all-events",
        events=endpoint_events(),
        description="Every event of the organization, for the data warehouse loader",
    )
    delivery = webhook_endpoint_send_test(endpoint=endpoint)
    body = json.dumps(delivery.payload, separators=(",", ":"))
    headers = signed_headers(organization=organization, message_id=delivery.message_id, body=body, event="test")
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        status_code=502,
        latency_ms=1234,
        error="receiver answered HTTP 502",
        request_body=body,
        request_headers=headers,
        response_body="<html><body>" + "Bad gateway from the upstream load balancer " * 20 + "</body></html>",
    )
    return endpoint, delivery


def page_urls(filled: Filled) -> dict[str, str]:
    return {
        "overview": "/",
        "playground": "/jobs/new/",
        "jobs": "/jobs/",
        "usage": "/usage/",
        "job-completed": f"/jobs/{filled.completed.request_id}/",
        "job-failed": f"/jobs/{filled.failed.request_id}/",
        "job-queued": f"/jobs/{filled.queued.request_id}/",
        "quickstart": "/quickstart/",
        "keys": "/keys/",
        "wallet": "/wallet/",
        "webhooks": "/webhooks/",
        "webhook-endpoint-new": "/webhooks/endpoints/new/",
        "webhook-endpoint": f"/webhooks/endpoints/{filled.endpoint.id}/",
        "webhook-delivery": f"/webhooks/deliveries/{filled.delivery.id}/",
        "settings": "/settings/",
        "team": "/team/",
        "account": "/accounts/password/change/",
        "two-factor": "/accounts/2fa/",
        "email-addresses": "/accounts/email/",
        "not-found": "/no/such/page/",
        "form-target": "/keys/new/",  # a POST-only page opened with GET (405)
    }


# Elements that stick out of the viewport and are not clipped by a scrolling ancestor.
OVERFLOW_JS = """
() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (["auto", "scroll", "hidden", "clip"].includes(style.overflowX)) {
        const box = p.getBoundingClientRect();
        if (box.right <= width + 0.5 && box.left >= -0.5) return true;
      }
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const rect = el.getBoundingClientRect();
    if (!rect.width || !rect.height) continue;
    if (getComputedStyle(el).position === "fixed") continue;
    if (el.classList.contains("skip-link")) continue;
    if ((rect.right > width + 0.5 || rect.left < -0.5) && !clipped(el)) {
      out.push(`${el.tagName.toLowerCase()}.${[...el.classList].join(".")} [${Math.round(rect.left)}..${Math.round(rect.right)}] ${(el.textContent || "").trim().slice(0, 40)}`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, width, out};
}
"""
