"""An owner, a teammate (plain member) and an outsider who must see nothing; a real PNG."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from accounts.models import Membership
from accounts.services import membership_add
from jobs.services import job_submit
from jobs.types import ImageInput, JobParams
from tests.accounts.factories import OrganizationFactory, UserFactory

# restore_base (10) with background enhancement and face upsampling off; see billing migration 0002.
PLAIN = JobParams(upscale=2, background_enhance=False, face_upsample=False)


def png_bytes(width: int = 48, height: int = 40) -> bytes:
    image = Image.new("RGB", (width, height))
    image.putdata([((x * 9) % 256, (y * 13) % 256, 140) for y in range(height) for x in range(width)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def submit_job(organization, params: JobParams = PLAIN):
    """A QUEUED job with its input stored and its price held, made by the real service."""
    data = png_bytes()
    jobs, _ = job_submit(
        organization=organization,
        params=params,
        images=[ImageInput(data=data, name="face.png", width=48, height=40, format="PNG")],
        source="gateway",
    )
    return jobs[0]


@pytest.fixture(autouse=True)
def _stand_in_engine(settings):
    """The dashboard's tests need the job flow, not the models: the suite's stand-in engine
    (the production pipeline would report its weights missing and the playground would refuse)."""
    settings.RESTORATION_ENGINE = "tests.jobs.engines.FakeEngine"


@pytest.fixture
def owner(db):
    return UserFactory(username="olivia", email="olivia@acme.test")


@pytest.fixture
def teammate(db):
    return UserFactory(username="tom", email="tom@acme.test")


@pytest.fixture
def outsider(db):
    return UserFactory(username="oscar", email="oscar@other.test")


@pytest.fixture
def org(owner, teammate):
    organization = OrganizationFactory(name="Acme Photos", owner=owner, initial_credit=1000)
    membership_add(organization=organization, user=teammate, role=Membership.Role.MEMBER)
    return organization


@pytest.fixture
def other_org(outsider):
    return OrganizationFactory(name="Other Corp", owner=outsider, initial_credit=1000)


@pytest.fixture
def owner_client(client, owner, org):
    client.force_login(owner)
    return client


@pytest.fixture
def teammate_client(client, teammate, org):
    client.force_login(teammate)
    return client


@pytest.fixture
def outsider_client(client, outsider, other_org):
    client.force_login(outsider)
    return client
