"""IBAN and Sheba (Iranian IBAN) numbers: normalising, the ISO 13616 mod-97 checksum, masking.

A Sheba number is an IBAN of country IR: `IR` + 2 check digits + 22 digits (26 characters).
The checksum catches every single-character typo and almost every swap, so a payout is never
sent to a mistyped account.
"""

import re
from typing import Final

from payments.domain.errors import InvalidIban

_SHAPE: Final = re.compile(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}")
#: lengths of the countries we expect most; others are checked by shape and checksum only
_LENGTHS: Final = {"IR": 26, "DE": 22, "GB": 22, "FR": 27, "NL": 18, "AE": 23, "TR": 26}


def normalize(raw: str) -> str:
    """People write IBANs in groups of four and sometimes in lower case."""
    return re.sub(r"\s+", "", raw).upper()


def _as_number(iban: str) -> int:
    rearranged = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged))


def is_valid(iban: str) -> bool:
    if not _SHAPE.fullmatch(iban):
        return False
    expected = _LENGTHS.get(iban[:2])
    if expected is not None and len(iban) != expected:
        return False
    if iban[:2] == "IR" and not iban[4:].isdigit():
        return False
    return _as_number(iban) % 97 == 1


def check_iban(raw: str) -> str:
    """The normalised IBAN, or `InvalidIban`."""
    iban = normalize(raw)
    if not is_valid(iban):
        raise InvalidIban("not a valid IBAN / Sheba number (shape, length or mod-97 checksum)")
    return iban


def from_bban(country: str, bban: str) -> str:
    """Build the IBAN of a domestic account number by computing its check digits."""
    remainder = _as_number(f"{country}00{bban}") % 97
    return f"{country}{98 - remainder:02d}{bban}"


def mask(iban: str) -> str:
    """Enough to recognise one's own account in a notification, not enough to reuse it."""
    return iban[:4] + "*" * (len(iban) - 8) + iban[-4:]
