"""A job's price from its parameters and the PriceItem table (data, editable without a deploy).

price = restore_base
      + background_enhance   if the background is enhanced
      + face_upsample        if faces are upsampled
      + upscale_step * (upscale - 2) for each factor above 2x
"""

from __future__ import annotations

from dataclasses import dataclass

from billing.errors import PriceTableIncomplete
from billing.models import PriceItem
from jobs.types import JobParams

BASE_UPSCALE = 2


@dataclass(frozen=True)
class PriceLine:
    code: str
    quantity: int
    unit_amount: int

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_amount


def price_lines(params: JobParams) -> list[PriceLine]:
    """The price items a job with these parameters selects, with quantities."""
    wanted = {"restore_base": 1}
    if params.background_enhance:
        wanted["background_enhance"] = 1
    if params.face_upsample:
        wanted["face_upsample"] = 1
    steps = max(0, int(params.upscale) - BASE_UPSCALE)
    if steps:
        wanted["upscale_step"] = steps
    table = dict(PriceItem.objects.filter(code__in=wanted).values_list("code", "amount"))
    missing = sorted(set(wanted) - set(table))
    if missing:
        # Charging nothing for a missing line would give work away; refuse instead.
        raise PriceTableIncomplete(f"Pricing is not configured ({', '.join(missing)}); try again later.")
    return [PriceLine(code, quantity, table[code]) for code, quantity in wanted.items()]


def price_for(params: JobParams) -> int:
    """The price of one image processed with ``params``, in minor units."""
    return sum(line.amount for line in price_lines(params))
