"""Amount rules for dispute money: integers in the currency's smallest unit, never floats.

The held amount is what the escrow froze; every split of it (a settlement proposal, a verdict)
must hand out all of it and nothing more, so money is neither created nor lost.
"""

from .errors import InvalidAmount

MAX_AMOUNT = 10**15


def check_int(value: object, name: str) -> int:
    # bool is an int subclass: True would silently mean 1 rial.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(f"{name} must be an integer amount, got {type(value).__name__}")
    return value


def check_held_amount(value: object) -> int:
    held = check_int(value, "held_amount")
    if not 1 <= held <= MAX_AMOUNT:
        raise InvalidAmount(f"held_amount must be between 1 and {MAX_AMOUNT}, got {held}")
    return held


def check_share(value: object, held: int, name: str) -> int:
    """One side's share of the held amount: 0 <= share <= held."""
    share = check_int(value, name)
    if share < 0:
        raise InvalidAmount(f"{name} may not be negative, got {share}")
    if share > held:
        raise InvalidAmount(f"{name} {share} exceeds the held amount {held}")
    return share


def check_split(contractor_amount: object, employer_amount: object, held: int) -> tuple[int, int]:
    """A full split of the held amount: both shares >= 0 and together exactly `held`."""
    contractor = check_share(contractor_amount, held, "contractor_amount")
    employer = check_share(employer_amount, held, "employer_amount")
    if contractor + employer != held:
        raise InvalidAmount(
            f"contractor_amount {contractor} + employer_amount {employer} = "
            f"{contractor + employer}, must equal the held amount {held} exactly"
        )
    return contractor, employer
