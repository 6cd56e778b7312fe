"""A template filled for one person: the subject, a plain-text and an HTML body, and an SMS text.

Persian is right-to-left: each plain-text paragraph (and the subject) is wrapped in RLE…PDF
(U+202B…U+202C) because an embedding ends at a paragraph's end; the HTML says `dir="rtl"`;
the SMS starts with an RLM so a handset lays it out from the right.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape

from notifications.domain.amounts import Language
from notifications.domain.templates import GREETING, SIGNATURE, TEMPLATES

RLE, PDF, RLM = "\u202b", "\u202c", "\u200f"


@dataclass(frozen=True)
class Rendered:
    language: Language
    subject: str
    text: str
    html: str
    sms: str


def render(
    template: str, language: Language, values: Mapping[str, str], name: str = ""
) -> Rendered:
    """Fill `template`; a placeholder without a value is a bug and raises `KeyError`."""
    words = TEMPLATES[template][language]
    subject = words.subject.format_map(values)
    body = " ".join(words.body.format_map(values).split())  # an empty optional value leaves no gap
    paragraphs = [_greeting(language, name), body, SIGNATURE[language]]
    if language == "fa":
        return Rendered(
            language,
            subject=_rtl(subject),
            text="\n\n".join(_rtl(p) for p in paragraphs),
            html=_html(subject, paragraphs, language),
            sms=RLM + body,
        )
    return Rendered(
        language, subject, "\n\n".join(paragraphs), _html(subject, paragraphs, language), body
    )


def _greeting(language: Language, name: str) -> str:
    named, anonymous = GREETING[language]
    return named.format(name=name) if name.strip() else anonymous


def _rtl(text: str) -> str:
    return RLE + text + PDF


def _html(subject: str, paragraphs: list[str], language: Language) -> str:
    direction = "rtl" if language == "fa" else "ltr"
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return (
        f'<!DOCTYPE html><html lang="{language}" dir="{direction}"><head><meta charset="utf-8">'
        f"<title>{escape(subject)}</title></head>"
        f'<body><div dir="{direction}">{body}</div></body></html>'
    )
