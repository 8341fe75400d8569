"""Receipts: one per paid Payment, as a page and as our own PDF."""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string

from billing.models import Payment
from billing.selectors import billing_account_for
from config.errors import NotFound
from lib.pdf import html_to_pdf


def receipt_context(payment: Payment) -> dict:
    if payment.status != Payment.Status.SUCCEEDED:
        raise NotFound("Only a paid payment has a receipt.")
    return {
        "payment": payment,
        "organization": payment.organization,
        "account": billing_account_for(payment.organization),
        "seller_name": settings.RECEIPT_SELLER_NAME,
    }


def receipt_html(payment: Payment) -> str:
    return render_to_string("billing/receipt.html", receipt_context(payment))


def receipt_pdf(payment: Payment) -> bytes:
    return html_to_pdf(receipt_html(payment))
