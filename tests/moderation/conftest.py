"""Fixtures for trust and safety: a T&S admin, a support agent, a customer organization with a
key (owner + teammate) and an outsider organization that must see none of it; real photos from
the shared test data; the suite's stand-in engine for the job flow."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from rest_framework.test import APIClient

from accounts.models import Membership
from accounts.services import membership_add
from jobs.engine import reset_engine
from jobs.models import Job
from jobs.services import job_run, job_submit
from jobs.types import ImageInput, JobParams
from moderation.models import StaffMember
from tests.accounts.factories import OrganizationFactory, UserFactory, make_key
from tests.jobs.engines import FakeEngine

GENERATE_URL = "/codeformer-image-restoration/v1/codeformer/generate"
PLAIN = JobParams(upscale=2, background_enhance=False, face_upsample=False)
PLAIN_PRICE = 10


@pytest.fixture(autouse=True)
def fake_engine(settings):
    settings.RESTORATION_ENGINE = "tests.jobs.engines.FakeEngine"
    reset_engine()
    FakeEngine.reset()
    yield FakeEngine
    reset_engine()


@pytest.fixture
def photo(shared_dir) -> bytes:
    """A real photo (a group of four people), JPEG."""
    return (shared_dir / "testdata" / "whole_imgs" / "00.jpg").read_bytes()


@pytest.fixture
def other_photo(shared_dir) -> bytes:
    return (shared_dir / "testdata" / "whole_imgs" / "04.jpg").read_bytes()


def reencoded(data: bytes, *, scale: float = 0.6, quality: int = 55, fmt: str = "JPEG") -> bytes:
    """The same picture resized and re-encoded (what a re-upload of a known-bad image looks like)."""
    with Image.open(io.BytesIO(data)) as image:
        image = image.convert("RGB")
        smaller = image.resize((int(image.width * scale), int(image.height * scale)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    smaller.save(buffer, format=fmt, quality=quality)
    return buffer.getvalue()


def image_of(data: bytes, name: str = "photo.jpg") -> ImageInput:
    with Image.open(io.BytesIO(data)) as image:
        return ImageInput(data=data, name=name, width=image.width, height=image.height, format=image.format)


def completed_job(org, data: bytes, *, api_key=None, user=None) -> Job:
    jobs, _ = job_submit(
        organization=org, params=PLAIN, images=[image_of(data)], source=Job.Source.GATEWAY, api_key=api_key, user=user
    )
    return job_run(job_id=jobs[0].id)


def queued_job(org, data: bytes) -> Job:
    jobs, _ = job_submit(organization=org, params=PLAIN, images=[image_of(data)], source=Job.Source.GATEWAY)
    return jobs[0]


@dataclass
class Tenant:
    org: object
    owner: object
    teammate: object
    key: str
    subscription: object

    def api(self) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_OCP_APIM_SUBSCRIPTION_KEY=self.key)
        return client

    @property
    def api_key(self):
        return self.subscription.keys.get(slot="primary", revoked_at__isnull=True)


def _tenant(name: str, slug: str) -> Tenant:
    owner = UserFactory(username=f"{slug}-owner")
    teammate = UserFactory(username=f"{slug}-mate")
    org = OrganizationFactory(name=name, owner=owner, initial_credit=1000)
    membership_add(organization=org, user=teammate, role=Membership.Role.MEMBER)
    subscription, key = make_key(org)
    return Tenant(org=org, owner=owner, teammate=teammate, key=key, subscription=subscription)


@pytest.fixture
def acme(db) -> Tenant:
    return _tenant("Acme Photos", "acme")


@pytest.fixture
def outsider(db) -> Tenant:
    return _tenant("Globex", "globex")


@pytest.fixture
def admin_user(db):
    user = UserFactory(username="tess", is_staff=True)
    StaffMember.objects.create(user=user, role=StaffMember.Role.ADMIN)
    return user


@pytest.fixture
def support_user(db):
    user = UserFactory(username="sam", is_staff=True)
    StaffMember.objects.create(user=user, role=StaffMember.Role.SUPPORT)
    return user


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def support_client(support_user):
    from django.test import Client

    client = Client()
    client.force_login(support_user)
    return client


def media_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
