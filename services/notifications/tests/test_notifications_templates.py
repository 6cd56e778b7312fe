"""Every template renders in Persian and English from example events; money reads right."""

from __future__ import annotations

import pytest
from notifications.domain.amounts import format_amount
from notifications.domain.facts import Presentation, facts
from notifications.domain.rendering import PDF, RLE, RLM, render
from notifications.domain.rules import RULES
from shared.contract.escrow import EscrowFunded, EscrowReleased

RIAL = Presentation(amount_display="rial", persian_digits=True)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.event.__name__}-{r.tell}")
@pytest.mark.parametrize("language", ["fa", "en"])
def test_every_template_renders_from_an_example_event(example_events, rule, language):
    event = example_events[rule.event]
    rendered = render(rule.template, language, facts(event, language, RIAL), "Sara")
    for text in (rendered.subject, rendered.text, rendered.html, rendered.sms):
        assert text.strip()
        assert "{" not in text and "}" not in text  # every placeholder was filled
        assert "None" not in text
    if language == "fa":
        assert rendered.subject.startswith(RLE) and rendered.subject.endswith(PDF)
        assert all(p.startswith(RLE) and p.endswith(PDF) for p in rendered.text.split("\n\n"))
        assert 'dir="rtl"' in rendered.html and 'lang="fa"' in rendered.html
        assert rendered.sms.startswith(RLM)
    else:
        assert RLE not in rendered.text and 'dir="ltr"' in rendered.html
        assert rendered.text.startswith("Hello Sara,")


def _without_ids(text: str) -> str:
    """Identifiers (isolated left-to-right) keep their Latin digits; remove them."""
    out, inside = [], False
    for char in text:
        if char == "\u2066":
            inside = True
        elif char == "\u2069":
            inside = False
        elif not inside:
            out.append(char)
    return "".join(out)


def test_persian_digits_are_used_consistently_outside_identifiers(example_events):
    for rule in RULES:
        event = example_events[rule.event]
        rendered = render(rule.template, "fa", facts(event, "fa", RIAL))
        assert not any(c.isascii() and c.isdigit() for c in _without_ids(rendered.text)), rule


def test_a_funded_escrow_in_persian_shows_rials_with_separators(example_events):
    event = example_events[EscrowFunded]
    rendered = render("escrow_funded_employer", "fa", facts(event, "fa", RIAL), "سارا")
    assert "۱۲٬۵۰۰٬۰۰۰ ریال" in rendered.text
    assert "سلام سارا،" in rendered.text
    assert "\u2066esc-1\u2069" in rendered.subject  # the id reads left-to-right


def test_toman_display_divides_by_ten_and_english_uses_latin_digits(example_events):
    event = example_events[EscrowReleased]
    toman = Presentation(amount_display="toman", persian_digits=True)
    fa = render("escrow_released_contractor", "fa", facts(event, "fa", toman))
    en = render("escrow_released_contractor", "en", facts(event, "en", toman))
    assert "۱٬۱۲۵٬۰۰۰ تومان" in fa.text  # net 11,250,000 rials
    assert "1,125,000 tomans" in en.text and "125,000 tomans" in en.text


def test_html_escapes_what_people_typed(example_events):
    event = example_events[EscrowFunded].model_copy()
    values = {**facts(event, "en", RIAL), "note": "<script>x</script>"}
    rendered = render("changes_requested", "en", values)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html


@pytest.mark.parametrize(
    ("amount", "currency", "language", "display", "persian", "shown"),
    [
        (1_250_000, "IRR", "fa", "rial", True, "۱٬۲۵۰٬۰۰۰ ریال"),
        (1_250_000, "IRR", "fa", "toman", True, "۱۲۵٬۰۰۰ تومان"),
        (1_250_000, "IRR", "fa", "toman", False, "125,000 تومان"),
        (1_250_005, "IRR", "en", "toman", True, "1,250,005 rials"),  # not exact in tomans
        (1_250_000, "IRR", "en", "rial", True, "1,250,000 rials"),
        (123_456, "USD", "en", "toman", True, "1,234.56 US dollars"),
        (5, "USD", "fa", "rial", True, "۰٫۰۵ دلار آمریکا"),
        (10**15, "IRR", "en", "toman", True, "100,000,000,000,000 tomans"),
        (0, "IRR", "en", "rial", True, "0 rials"),
        (700, "XYZ", "en", "rial", True, "7.00 XYZ"),
    ],
)
def test_amounts(amount, currency, language, display, persian, shown):
    assert format_amount(amount, currency, language, display=display, persian=persian) == shown
