"""Template tags for pages that allauth's views render (no context of ours there)."""

from __future__ import annotations

from django import template

from billing.money import format_money
from restoration.dashboard import landing

register = template.Library()


@register.simple_tag(takes_context=True)
def pending_invitation(context):
    """The open invitation the visitor followed before signing up (kept in the session), or None."""
    from restoration.dashboard.team_views import pending_invitation as pending

    request = context.get("request")
    return pending(request) if request is not None else None


@register.simple_tag
def signup_trial_credit() -> str:
    """The trial credit a new organization gets once its owner's address is verified, as money
    (``$1.00``), or "" when the default plan has none."""
    amount = landing.signup_trial_credit()
    return format_money(amount, landing.currency()) if amount else ""
