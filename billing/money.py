"""Integer minor units as money for people: ``$1,234.56``, ``-$5.00``. Amounts are stored and
computed as integers (STYLE rule 3); this is only how they are shown."""

from __future__ import annotations

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}


def format_money(minor_units: int, currency: str = "USD") -> str:
    value = int(minor_units)
    symbol = SYMBOLS.get(str(currency).upper(), f"{currency} ")
    sign = "-" if value < 0 else ""
    major, minor = divmod(abs(value), 100)
    return f"{sign}{symbol}{major:,}.{minor:02d}"
