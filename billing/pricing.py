"""A job's price from its parameters, the organization's plan and the price tables (data,
editable without a deploy).

price = restore_base
      + background_enhance   if the background is enhanced
      + face_upsample        if faces are upsampled
      + upscale_step * (upscale - 2) for each factor above 2x
      + output_megapixel * each started megapixel of the output (when the size is known)

Each line's unit amount is the plan's own (PlanPrice) when it has one, else the list price
(PriceItem). ``output_megapixel`` is optional: a table without it does not charge by size.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from billing.errors import PriceTableIncomplete
from billing.models import PlanPrice, PriceItem
from jobs.types import JobParams

BASE_UPSCALE = 2
# The least one photo can cost on any plan: every price line adds a non-negative amount, so it is
# the base restoration alone (no upscale step, no background enhancement, no face upsampling).
CHEAPEST_PARAMS = JobParams(upscale=1, background_enhance=False, face_upsample=False)
OPTIONAL_CODES = frozenset({"output_megapixel"})


@dataclass(frozen=True)
class PriceLine:
    code: str
    quantity: int
    unit_amount: int

    @property
    def amount(self) -> int:
        return self.quantity * self.unit_amount


def output_megapixels(params: JobParams, *, width: int | None, height: int | None) -> int:
    """Started megapixels of the output (0 when the input size is unknown)."""
    if not width or not height:
        return 0
    return math.ceil(width * height * int(params.upscale) ** 2 / 1_000_000)


# The price tables are read on every submission and edited a few times a year: each process
# keeps a copy for PRICE_TABLE_CACHE_S seconds. Saving or deleting a PriceItem or PlanPrice
# forgets the copy at once in the process that made the edit (signals in billing.apps); other
# processes see the edit within the TTL.
_cache_lock = threading.Lock()
_cached: tuple[float, PriceTables] | None = None


@dataclass(frozen=True)
class PriceTables:
    list_prices: dict[str, int]
    plan_prices: dict[int, dict[str, int]]


def price_tables() -> PriceTables:
    """The list prices and every plan's own prices, from the per-process copy while it is fresh."""
    global _cached
    ttl = settings.PRICE_TABLE_CACHE_S
    cached = _cached
    now = time.monotonic()
    if cached is not None and now - cached[0] < ttl:
        return cached[1]
    plan_prices: dict[int, dict[str, int]] = {}
    for plan_id, code, amount in PlanPrice.objects.values_list("plan_id", "code", "amount"):
        plan_prices.setdefault(plan_id, {})[code] = amount
    tables = PriceTables(dict(PriceItem.objects.values_list("code", "amount")), plan_prices)
    with _cache_lock:
        _cached = (now, tables) if ttl > 0 else None
    return tables


def price_table_forget(**_signal_kwargs) -> None:
    """Drop this process's copy (a PriceItem or PlanPrice was saved or deleted)."""
    global _cached
    with _cache_lock:
        _cached = None


def _table(plan, codes) -> dict[str, int]:
    tables = price_tables()
    table = {code: tables.list_prices[code] for code in codes if code in tables.list_prices}
    if plan is not None:
        own = tables.plan_prices.get(plan.pk, {})
        table.update({code: own[code] for code in codes if code in own})
    return table


def price_lines(
    params: JobParams, *, plan=None, width: int | None = None, height: int | None = None
) -> list[PriceLine]:
    """The price items a job with these parameters selects, with quantities."""
    wanted = {"restore_base": 1}
    if params.background_enhance:
        wanted["background_enhance"] = 1
    if params.face_upsample:
        wanted["face_upsample"] = 1
    steps = max(0, int(params.upscale) - BASE_UPSCALE)
    if steps:
        wanted["upscale_step"] = steps
    megapixels = output_megapixels(params, width=width, height=height)
    if megapixels:
        wanted["output_megapixel"] = megapixels
    table = _table(plan, wanted)
    missing = sorted(set(wanted) - set(table) - OPTIONAL_CODES)
    if missing:
        # Charging nothing for a missing line would give work away; refuse instead.
        raise PriceTableIncomplete(f"Pricing is not configured ({', '.join(missing)}); try again later.")
    return [
        PriceLine(code, quantity, table[code])
        for code, quantity in wanted.items()
        if code in table and not (code in OPTIONAL_CODES and table[code] == 0)
    ]


def price_for(params: JobParams, *, plan=None, width: int | None = None, height: int | None = None) -> int:
    """The price of one image processed with ``params``, in minor units."""
    return sum(line.amount for line in price_lines(params, plan=plan, width=width, height=height))
