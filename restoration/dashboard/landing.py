"""What the public landing page tells a visitor, read from the same places the product uses:
the plans on offer and their per-photo prices (``billing.pricing``, the tables a job is charged
from), the trial credit a sign-up gets (the default plan's, which ``accounts.services`` grants on
verification) and the licence of each model a customer may run (``restoration.licensing``).
Nothing here is a hard-coded amount: editing a price row or a plan changes the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts.services import default_plan
from billing.errors import PriceTableIncomplete
from billing.models import Plan, Wallet
from billing.pricing import price_for, price_lines
from billing.selectors import plans_offered
from jobs.types import JobParams
from ml.weights import MANIFEST, MODELS
from restoration.licensing import licence_state, offered_models

# A photo restored at 2x with nothing extra, and with the playground's defaults (both extras on).
PLAIN = JobParams(upscale=2, background_enhance=False, face_upsample=False)
WITH_EXTRAS = JobParams(upscale=2, background_enhance=True, face_upsample=True)
# One extra upscale step, so the per-step price is among the lines.
ONE_MORE_STEP = JobParams(upscale=3, background_enhance=False, face_upsample=False)


@dataclass(frozen=True)
class PlanOffer:
    plan: Plan
    plain: int | None  # one photo, 2x, no extras; None while the price table is incomplete
    with_extras: int | None
    upscale_step: int | None


@dataclass(frozen=True)
class ModelLicence:
    title: str
    licence: str
    licence_url: str
    commercial_use: bool


def currency() -> str:
    """The currency every new wallet is kept in (a sign-up's wallet)."""
    return Wallet._meta.get_field("currency").default


def _price(params: JobParams, plan: Plan) -> int | None:
    try:
        return price_for(params, plan=plan)
    except PriceTableIncomplete:
        return None


def _upscale_step(plan: Plan) -> int | None:
    try:
        lines = price_lines(ONE_MORE_STEP, plan=plan)
    except PriceTableIncomplete:
        return None
    return next((line.unit_amount for line in lines if line.code == "upscale_step"), None)


def plan_offers() -> list[PlanOffer]:
    """The public plans, cheapest first, each with what one photo costs on it."""
    return [
        PlanOffer(
            plan=plan,
            plain=_price(PLAIN, plan),
            with_extras=_price(WITH_EXTRAS, plan),
            upscale_step=_upscale_step(plan),
        )
        for plan in plans_offered()
    ]


def signup_trial_credit() -> int:
    """What a new organization gets once its owner's address is verified (minor units)."""
    return default_plan().trial_credit


def model_licences() -> list[ModelLicence]:
    """The models a customer may run here, with the licence of each one's restoring network."""
    licences = []
    for name in offered_models():
        spec = MODELS[name]
        checkpoint = MANIFEST[spec.checkpoints[0]]
        state = licence_state(name)
        licences.append(ModelLicence(spec.title, state.licence, checkpoint.licence_url, state.commercial_use))
    return licences
