"""The values a template's placeholders take, read from an event and shown for one language.

Amounts (by field name) are formatted with the event's currency; codes go through `LABELS`;
identifiers are isolated left-to-right inside Persian text so `esc-12` never reads backwards;
numbers and dates use Persian digits in Persian messages when the setting asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from shared.contract.base import Event

from notifications.domain.amounts import AmountDisplay, Language, format_amount, persian_digits
from notifications.domain.templates import LABELS

MONEY = frozenset(
    {
        "amount",
        "agreed_amount",
        "held",
        "gross",
        "fee",
        "net",
        "contractor_amount",
        "employer_amount",
        "contractor_net",
    }
)
LABELLED = frozenset({"cause", "reason", "kind", "verdict_kind", "stage", "deadline"})
LRI, PDI = "\u2066", "\u2069"  # left-to-right isolate, pop directional isolate


@dataclass(frozen=True)
class Presentation:
    """Deployment choices of how messages show numbers."""

    amount_display: AmountDisplay = "rial"
    persian_digits: bool = True


def facts(event: Event, language: Language, presentation: Presentation) -> dict[str, str]:
    raw = _fields(event)
    currency = str(raw.get("currency") or "")
    return {
        name: _shown(name, value, currency, language, presentation) for name, value in raw.items()
    }


def _fields(event: Event) -> dict[str, object]:
    """The escrow snapshot's fields first (when there is one), then the event's own on top."""
    values: dict[str, object] = {}
    snapshot = getattr(event, "escrow", None)
    if snapshot is not None:
        values.update(dict(snapshot))
    values.update({k: v for k, v in dict(event).items() if k != "escrow"})
    return values


def _shown(
    name: str, value: object, currency: str, language: Language, presentation: Presentation
) -> str:
    persian = language == "fa" and presentation.persian_digits
    if value is None:
        return ""
    if name in MONEY and isinstance(value, int) and not isinstance(value, bool):
        return format_amount(
            value,
            currency,
            language,
            display=presentation.amount_display,
            persian=presentation.persian_digits,
        )
    if isinstance(value, datetime):
        text = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        return persian_digits(text) if persian else text
    if isinstance(value, int) and not isinstance(value, bool):
        return persian_digits(str(value)) if persian else str(value)
    text = value.value if isinstance(value, Enum) else str(value)
    if name in LABELLED:
        return LABELS[language].get(text, text)
    if language == "fa" and _is_code(name):
        return LRI + text + PDI
    return text


def _is_code(name: str) -> bool:
    return name.endswith("_id") or name in {"reference", "iban_masked", "currency"}
