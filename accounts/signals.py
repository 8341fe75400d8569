"""Receivers for allauth's signals. They only hand over to services."""

from __future__ import annotations

from allauth.account.signals import email_confirmed
from django.dispatch import receiver

from accounts import services


@receiver(email_confirmed, dispatch_uid="accounts.trial_credit_on_email_confirmed")
def grant_trial_credit(sender, request, email_address, **kwargs) -> None:
    services.trial_credit_grant(user=email_address.user, email=email_address.email)
