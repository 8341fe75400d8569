"""The price table is data: a job's price is the sum of the rows its parameters select."""

from __future__ import annotations

import pytest

from billing.errors import PriceTableIncomplete
from billing.models import PriceItem
from billing.pricing import price_for, price_lines
from jobs.types import JobParams


def test_the_seeded_table_prices_the_gateway_defaults(db):
    # restore_base 10 + background_enhance 5 + face_upsample 3, upscale 2 adds nothing.
    assert price_for(JobParams()) == 18


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (JobParams(background_enhance=False, face_upsample=False, upscale=1), 10),
        (JobParams(background_enhance=False, face_upsample=False, upscale=2), 10),
        (JobParams(background_enhance=True, face_upsample=False, upscale=2), 15),
        (JobParams(background_enhance=False, face_upsample=True, upscale=2), 13),
        (JobParams(background_enhance=False, face_upsample=False, upscale=4), 10 + 2 * 2),
        (JobParams(background_enhance=True, face_upsample=True, upscale=8), 10 + 5 + 3 + 6 * 2),
    ],
)
def test_each_option_adds_its_row(db, params, expected):
    assert price_for(params) == expected


def test_fidelity_and_face_options_do_not_change_the_price(db):
    assert price_for(JobParams(fidelity=0.1, only_center_face=True, has_aligned=True)) == price_for(
        JobParams(fidelity=0.9)
    )


def _edit(code: str, amount: int) -> None:
    """What a staff edit in the admin does: save the row."""
    item = PriceItem.objects.get(code=code)
    item.amount = amount
    item.save()


def test_editing_a_row_changes_prices_without_code(db):
    params = JobParams(background_enhance=False, face_upsample=False, upscale=5)
    assert price_for(params) == 10 + 3 * 2  # priced (and cached) before the edit
    _edit("restore_base", 25)
    _edit("upscale_step", 7)
    assert price_for(params) == 25 + 3 * 7


def test_submissions_are_priced_from_the_processs_copy_until_a_row_is_saved(db):
    params = JobParams(background_enhance=False, face_upsample=False, upscale=2)
    assert price_for(params) == 10
    # A write that bypasses the model (no signal) is not seen while the copy is fresh: proof
    # that pricing does not query the table each time.
    PriceItem.objects.filter(code="restore_base").update(amount=40)
    assert price_for(params) == 10
    _edit("face_upsample", 4)  # any saved row forgets the copy
    assert price_for(params) == 40


def test_with_the_cache_off_every_price_reads_the_table(db, settings):
    settings.PRICE_TABLE_CACHE_S = 0
    params = JobParams(background_enhance=False, face_upsample=False, upscale=2)
    assert price_for(params) == 10
    PriceItem.objects.filter(code="restore_base").update(amount=40)
    assert price_for(params) == 40


def test_price_lines_explain_the_price(db):
    lines = price_lines(JobParams(upscale=4))
    assert [(line.code, line.quantity, line.amount) for line in lines] == [
        ("restore_base", 1, 10),
        ("background_enhance", 1, 5),
        ("face_upsample", 1, 3),
        ("upscale_step", 2, 4),
    ]


def test_a_missing_row_that_a_job_needs_refuses_to_price_rather_than_give_work_away(db):
    PriceItem.objects.filter(code="background_enhance").delete()
    assert price_for(JobParams(background_enhance=False)) == 13  # not needed: still priced
    with pytest.raises(PriceTableIncomplete) as caught:
        price_for(JobParams(background_enhance=True))
    assert caught.value.status_code == 503
