"""Amounts, currencies and the platform fee: integer arithmetic only, never floats (DESIGN §2).

An amount is an int in the currency's smallest unit (IRR: 1 rial, USD: 1 cent). The fee is taken
from the contractor's side of each release or settlement, never from a refund.
"""

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Final

from .errors import InvalidAmount, UnsupportedCurrency

MAX_AMOUNT: Final = 10**15
BPS_PER_UNIT: Final = 10_000
_ISO_4217: Final = re.compile(r"[A-Z]{3}")


def _check_int(value: object, name: str) -> int:
    # bool is an int subclass: True would silently mean 1 rial.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{name} must be an integer amount, got {type(value).__name__}")
    return value


def check_amount(value: object, name: str = "amount") -> int:
    """A payable amount: an int with 1 <= amount <= 10**15."""
    amount = _check_int(value, name)
    if not 1 <= amount <= MAX_AMOUNT:
        raise InvalidAmount(f"{name} must be between 1 and {MAX_AMOUNT}, got {amount}")
    return amount


def check_share(value: object, name: str) -> int:
    """One side of a split, which may be zero: an int with 0 <= share <= 10**15."""
    share = _check_int(value, name)
    if not 0 <= share <= MAX_AMOUNT:
        raise InvalidAmount(f"{name} must be between 0 and {MAX_AMOUNT}, got {share}")
    return share


def check_currency(currency: object, accepted: Collection[str]) -> str:
    """An ISO 4217 code (three upper-case letters) that this deployment accepts."""
    if not isinstance(currency, str) or not _ISO_4217.fullmatch(currency):
        raise UnsupportedCurrency(f"{currency!r} is not an ISO 4217 currency code")
    if currency not in accepted:
        raise UnsupportedCurrency(f"currency {currency} is not accepted here")
    return currency


@dataclass(frozen=True)
class FeeSplit:
    """What a gross amount becomes: `fee` to the platform and `net` to the contractor."""

    gross: int
    fee: int
    net: int


@dataclass(frozen=True)
class FeePolicy:
    """One currency's commission: `fee_bps` basis points with a floor of `min_fee`."""

    fee_bps: int
    min_fee: int = 0

    def __post_init__(self) -> None:
        # A bad fee setting is a deployment error, not a business refusal: fail loudly at start.
        if isinstance(self.fee_bps, bool) or not isinstance(self.fee_bps, int):
            raise ValueError("fee_bps must be an int")
        if not 0 <= self.fee_bps <= BPS_PER_UNIT:
            raise ValueError(f"fee_bps must be between 0 and {BPS_PER_UNIT}")
        if isinstance(self.min_fee, bool) or not isinstance(self.min_fee, int):
            raise ValueError("min_fee must be an int")
        if not 0 <= self.min_fee <= MAX_AMOUNT:
            raise ValueError(f"min_fee must be between 0 and {MAX_AMOUNT}")

    def split(self, gross: int) -> FeeSplit:
        """fee = max(min_fee, floor(gross * bps / 10000)), capped at gross; net = gross - fee."""
        if gross == 0:
            # A zero contractor share of a verdict pays no fee: min_fee must not create a debt.
            return FeeSplit(gross=0, fee=0, net=0)
        fee = min(gross, max(self.min_fee, gross * self.fee_bps // BPS_PER_UNIT))
        return FeeSplit(gross=gross, fee=fee, net=gross - fee)


def fee_policy_for(fees: Mapping[str, FeePolicy], currency: str) -> FeePolicy:
    """The fee policy of `currency`; money never moves in a currency without one."""
    try:
        return fees[currency]
    except KeyError:
        raise UnsupportedCurrency(f"no fee policy is configured for {currency}") from None
