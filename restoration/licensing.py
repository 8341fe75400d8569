"""Whether this deployment may sell each model, from its weights' licence and the settings.

CodeFormer's weights are under the S-Lab License 1.0 (non-commercial; commercial use needs the
authors' permission). A commercial deployment (``COMMERCIAL_DEPLOYMENT``, on by default outside
development, or any deployment with Stripe keys) must record that permission in
``COMMERCIAL_LICENCE_GRANTED`` before it serves such a model; a deployment declared
non-commercial (research or personal use) may run it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from ml.weights import MODELS
from restoration.errors import ModelLicenceRestricted


@dataclass(frozen=True)
class LicenceState:
    model: str
    licence: str
    commercial_use: bool
    sellable: bool
    reason: str

    def as_dict(self) -> dict:
        return {"sellable": self.sellable, "reason": self.reason}


def payments_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def deployment_is_commercial() -> bool:
    """Whether this deployment sells restorations: declared so (``COMMERCIAL_DEPLOYMENT``), or
    taking card payments. Charging wallets is selling, whoever books the credit."""
    return bool(settings.COMMERCIAL_DEPLOYMENT) or payments_configured()


def licence_state(model: str) -> LicenceState:
    spec = MODELS.get(model)
    licence = spec.licence if spec else "unknown"
    commercial = bool(spec and spec.commercial_use)
    if commercial:
        return LicenceState(model, licence, True, True, f"{licence} allows commercial use.")
    if model in settings.COMMERCIAL_LICENCE_GRANTED:
        reason = f"{licence} is non-commercial; COMMERCIAL_LICENCE_GRANTED records the licensor's permission."
        return LicenceState(model, licence, False, True, reason)
    if not deployment_is_commercial():
        reason = (
            f"{licence} is non-commercial; allowed because this deployment does not sell restorations "
            "(COMMERCIAL_DEPLOYMENT is off and no Stripe keys are set: research, personal use or a try-out)."
        )
        return LicenceState(model, licence, False, True, reason)
    reason = (
        f"{licence} is non-commercial and this deployment sells restorations (COMMERCIAL_DEPLOYMENT, or "
        f"Stripe keys set); add '{model}' to COMMERCIAL_LICENCE_GRANTED once the licensor has granted "
        "commercial use, or enable a commercially licensed model."
    )
    return LicenceState(model, licence, False, False, reason)


def check_model_sellable(model: str) -> None:
    """Raise ModelLicenceRestricted (400) when the model may not be sold here."""
    state = licence_state(model)
    if not state.sellable:
        raise ModelLicenceRestricted(model=model, licence=state.licence)


def offered_models() -> list[str]:
    """The enabled models a customer may be offered (the dashboard's choices)."""
    return [name for name in settings.ENABLED_MODELS if licence_state(name).sellable]
