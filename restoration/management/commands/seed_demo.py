"""``manage.py seed_demo``: a demo organization, owner and key to try both APIs with.

Idempotent: the organization, its credit and the user are created once. The key and the password
are shown once and never stored in the clear, so every run issues a fresh key (the previous one
stops working) and sets a fresh password, and prints both.
"""

from __future__ import annotations

import secrets

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Membership, Organization
from accounts.selectors import subscriptions_for
from accounts.services import api_key_regenerate, membership_add, organization_create, subscription_create

DEMO_SLUG = "demo"
DEMO_USERNAME = "demo"
SUBSCRIPTION_NAME = "demo"


class Command(BaseCommand):
    help = "Create (once) the Demo organization with credit, its owner 'demo' and a fresh subscription key; print curl examples."

    def add_arguments(self, parser):
        parser.add_argument(
            "--credits", type=int, default=10_000, help="Initial credit in minor units (first run only)."
        )
        parser.add_argument("--password", default="", help="Password for the demo user (default: a new random one).")
        parser.add_argument(
            "--base-url",
            default="",
            help="Base URL for the examples (default: PUBLIC_BASE_URL or http://127.0.0.1:8000).",
        )

    def handle(self, *args, **options):
        password = options["password"] or secrets.token_urlsafe(12)
        with transaction.atomic():
            user = _demo_user(password)
            organization, created = _demo_organization(user, options["credits"])
            key = _fresh_key(organization)
        base = (options["base_url"] or settings.PUBLIC_BASE_URL or "http://127.0.0.1:8000").rstrip("/")
        self.stdout.write(
            f"{'Created' if created else 'Found'} organization {organization.name!r} (slug {organization.slug}), "
            f"balance {organization.wallet.balance} minor units."
        )
        self.stdout.write(f"Dashboard login: {DEMO_USERNAME} / {password}")
        self.stdout.write(f"Subscription key (shown once; the previous demo key no longer works): {key}")
        self.stdout.write("")
        for line in curl_examples(base, key):
            self.stdout.write(line)


def _demo_user(password: str):
    user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME, defaults={"email": "demo@example.com"})
    user.set_password(password)
    user.save(update_fields=["password"])
    # Logging in needs a verified address; the operator vouches for the demo user's.
    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    return user


def _demo_organization(user, credits: int) -> tuple[Organization, bool]:
    organization = Organization.objects.filter(slug=DEMO_SLUG).first()
    if organization is None:
        return organization_create(name="Demo", slug=DEMO_SLUG, owner=user, initial_credit=credits), True
    membership_add(organization=organization, user=user, role=Membership.Role.OWNER)
    return organization, False


def _fresh_key(organization: Organization) -> str:
    subscription = subscriptions_for(organization).filter(name=SUBSCRIPTION_NAME).first()
    if subscription is None:
        _subscription, keys = subscription_create(organization=organization, name=SUBSCRIPTION_NAME)
        return keys["primary"]
    return api_key_regenerate(subscription=subscription, slot="primary")


def curl_examples(base: str, key: str) -> list[str]:
    header = f'-H "Ocp-Apim-Subscription-Key: {key}"'
    request_id = "<request_id from the generate answer>"
    return [
        '# Gateway API: queue a restoration (a local file; JSON {"image": "https://..."} works for public URLs)',
        f'curl -X POST {header} -F "image=@photo.jpg" -F "upscale=2" "{base}/codeformer-image-restoration/v1/codeformer/generate"',
        "# Poll its status",
        f'curl {header} "{base}/v2/requests/status/{request_id}"',
        "# Cancel it while it is queued or processing",
        f'curl -X POST {header} "{base}/v2/requests/cancel/{request_id}"',
        "# Demo API: restore and wait for the result",
        f'curl -X POST {header} -F "image=@photo.jpg" -F "fidelity=0.7" -F "return_base64=false" "{base}/api/process"',
        "# Health (no key needed)",
        f'curl "{base}/api/health"',
    ]
