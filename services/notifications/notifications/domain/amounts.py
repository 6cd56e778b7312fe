"""How an amount of money reads in a message: thousands separators, the currency's name, and for
IRR the rial or toman display. Integer arithmetic only; money is never a float."""

from __future__ import annotations

from typing import Literal

Language = Literal["fa", "en"]
AmountDisplay = Literal["rial", "toman"]

#: digits after the decimal point of each currency's smallest unit (ISO 4217 exponent)
MINOR_DIGITS = {"IRR": 0, "USD": 2, "EUR": 2, "GBP": 2, "AED": 2, "TRY": 2}
TOMAN = "TOMAN"  # not an ISO code: one toman is ten rials, the unit people speak in Iran

CURRENCY_NAMES: dict[Language, dict[str, str]] = {
    "fa": {
        "IRR": "ریال",
        TOMAN: "تومان",
        "USD": "دلار آمریکا",
        "EUR": "یورو",
        "GBP": "پوند",
        "AED": "درهم",
        "TRY": "لیر",
    },
    "en": {
        "IRR": "rials",
        TOMAN: "tomans",
        "USD": "US dollars",
        "EUR": "euros",
        "GBP": "pounds sterling",
        "AED": "dirhams",
        "TRY": "Turkish lira",
    },
}

_PERSIAN = str.maketrans("0123456789,.", "۰۱۲۳۴۵۶۷۸۹٬٫")


def persian_digits(text: str) -> str:
    """Persian digits with the Arabic thousands (U+066C) and decimal (U+066B) separators."""
    return text.translate(_PERSIAN)


def format_amount(
    amount: int,
    currency: str,
    language: Language,
    *,
    display: AmountDisplay = "rial",
    persian: bool = True,
) -> str:
    """`1250000, "IRR", "fa"` -> `۱٬۲۵۰٬۰۰۰ ریال`; with `display="toman"` -> `۱۲۵٬۰۰۰ تومان`."""
    value, unit, digits = amount, currency, MINOR_DIGITS.get(currency, 2)
    # A toman display is used only when exact: a rial remainder would otherwise be hidden.
    if currency == "IRR" and display == "toman" and amount % 10 == 0:
        value, unit = amount // 10, TOMAN
    number = _grouped(value, digits)
    if language == "fa" and persian:
        number = persian_digits(number)
    name = CURRENCY_NAMES[language].get(unit, unit)
    return f"{number} {name}"


def _grouped(value: int, digits: int) -> str:
    sign = "-" if value < 0 else ""
    whole, minor = divmod(abs(value), 10**digits)
    text = f"{whole:,}"
    if digits:
        text += f".{minor:0{digits}d}"
    return sign + text
