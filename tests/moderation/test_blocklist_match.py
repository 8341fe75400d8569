"""moderation.screening.blocklist_match: the nearest blocked hash within the match distance, the
same on PostgreSQL (distances computed by the database) and on the scan other databases use."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from lib.pdq import PdqHash
from moderation import screening
from moderation.models import BlockedHash
from moderation.screening import blocklist_match

pytestmark = pytest.mark.django_db

BASE = random.Random(9).getrandbits(256)


def hex_at(distance: int, *, salt: int = 0) -> str:
    """A hash ``distance`` bits away from BASE (which bits depends on ``salt``)."""
    bits = random.Random(salt).sample(range(256), distance)
    value = BASE
    for bit in bits:
        value ^= 1 << bit
    return f"{value:064x}"


def probe(quality: int = 100) -> PdqHash:
    return PdqHash(hex=hex_at(0), quality=quality)


def blocked(distance: int, *, salt: int = 0, reason: str = "", age_s: int = 0) -> BlockedHash:
    row = BlockedHash.objects.create(pdq_hash=hex_at(distance, salt=salt), reason=reason or f"d{distance}")
    if age_s:
        BlockedHash.objects.filter(id=row.id).update(created_at=timezone.now() - timedelta(seconds=age_s))
    return row


@pytest.fixture(params=["database", "scan"])
def path(request, monkeypatch):
    if request.param == "scan":
        monkeypatch.setattr(screening, "_nearest_in_database", screening._nearest_by_scan)
    return request.param


def test_the_nearest_of_several_within_the_distance_is_the_match(path, settings):
    settings.PDQ_MATCH_DISTANCE = 31
    blocked(30, salt=1)
    nearest = blocked(12, salt=2)
    blocked(20, salt=3)
    blocked(80, salt=4)

    match = blocklist_match(probe())

    assert match is not None
    assert (match.blocked.id, match.distance, match.blocked.reason) == (nearest.id, 12, "d12")


def test_the_match_distance_is_inclusive_and_nothing_beyond_it_matches(path, settings):
    settings.PDQ_MATCH_DISTANCE = 31
    edge = blocked(31, salt=1)
    assert blocklist_match(probe()).blocked.id == edge.id

    BlockedHash.objects.all().delete()
    blocked(32, salt=1)
    blocked(200, salt=2)
    assert blocklist_match(probe()) is None


def test_of_equally_near_hashes_the_newest_is_the_match(path, settings):
    settings.PDQ_MATCH_DISTANCE = 31
    blocked(5, salt=1, age_s=3600)
    newest = blocked(5, salt=2)
    blocked(5, salt=3, age_s=60)

    assert blocklist_match(probe()).blocked.id == newest.id


def test_an_empty_blocklist_and_a_flat_image_match_nothing(path, settings):
    assert blocklist_match(probe()) is None
    blocked(0)
    assert blocklist_match(probe(quality=settings.PDQ_MIN_QUALITY - 1)) is None
    assert blocklist_match(probe(quality=settings.PDQ_MIN_QUALITY)).distance == 0


@pytest.mark.parametrize("value", ["z" * 64, "A" * 64, "abc", ""])
def test_a_value_that_is_not_64_lower_case_hex_digits_cannot_be_stored(value):
    # The database match casts the column to bit(256): the table holds nothing it cannot cast.
    with pytest.raises(IntegrityError), transaction.atomic():
        BlockedHash.objects.create(pdq_hash=value, reason="written around the normalizer")
