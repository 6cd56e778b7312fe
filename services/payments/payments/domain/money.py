"""Amounts and currencies: integers in the currency's smallest unit, never floats (DESIGN §2)."""

import re
from collections.abc import Collection
from typing import Final

from payments.domain.errors import InvalidAmount, UnsupportedCurrency

MAX_AMOUNT: Final = 10**15
_ISO_4217: Final = re.compile(r"[A-Z]{3}")


def check_amount(value: object, name: str = "amount") -> int:
    """A payable amount: an int (not a bool, not a float) with 1 <= amount <= 10**15."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{name} must be an integer amount, got {type(value).__name__}")
    if not 1 <= value <= MAX_AMOUNT:
        raise InvalidAmount(f"{name} must be between 1 and {MAX_AMOUNT}, got {value}")
    return value


def check_currency(currency: str, accepted: Collection[str]) -> str:
    if not _ISO_4217.fullmatch(currency) or currency not in accepted:
        raise UnsupportedCurrency(f"currency {currency!r} is not accepted here")
    return currency
