"""The one way money is written for people (customers in chat, staff pages, error messages): ``€2,143.00``."""

from __future__ import annotations

from decimal import Decimal


def eur(amount: Decimal | float | int, places: int = 2) -> str:
    """``amount`` (EUR) as ``€1,234.56``; ``-€5.00`` for negatives; ``places=0`` rounds to whole euros
    (``€1,235``). Raises nothing for finite numbers; ``Decimal`` keeps its exact value when rounded."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    sign = "-" if value < 0 else ""
    return f"{sign}€{abs(value):,.{places}f}"
