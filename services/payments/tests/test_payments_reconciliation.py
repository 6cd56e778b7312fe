"""Reconciliation against a gateway's own listing (issue 14 point 7), as a pure function: money
the gateway took that the suite did not receive is named, so are amounts that differ, and (only
when the listing is complete) payments the suite received that the gateway did not settle."""

from hypothesis import given
from hypothesis import strategies as st
from payments.domain.gateway import Settled, Settlements
from payments.domain.reconciliation import Recorded, Totals, compare


def received(reference: str, amount: int = 1_000, currency: str = "IRR") -> Recorded:
    return Recorded(f"pay-{reference}", reference, "received", amount, currency)


def complete(*items: Settled) -> Settlements:
    return Settlements(items, complete=True)


def test_a_listing_that_matches_the_suite_has_no_difference():
    both = [received("a", 1_000), received("b", 2_500, "USD")]
    listing = complete(Settled("a", 1_000, "IRR"), Settled("b", 2_500, "USD"))

    result = compare(both, listing)

    assert result.differences == ()
    assert result.settled == result.matched == {"IRR": Totals(1, 1_000), "USD": Totals(1, 2_500)}


def test_money_taken_for_a_payment_the_suite_never_received_is_unrecorded():
    started = Recorded("pay-lost", "tok-lost", "started", 90_000, "IRR")
    listing = complete(Settled("tok-lost", 90_000, "IRR"), Settled("tok-unknown", 5_000, "IRR"))

    result = compare([started], listing)

    assert [(d.kind, d.reference, d.payment_id) for d in result.differences] == [
        ("unrecorded", "tok-lost", "pay-lost"),
        ("unrecorded", "tok-unknown", None),
    ]
    assert result.settled == {"IRR": Totals(2, 95_000)}
    assert result.matched == {}


def test_a_failed_payment_the_gateway_says_it_took_is_unrecorded():
    failed = Recorded("pay-f", "tok-f", "failed", 1_000, "IRR")
    [difference] = compare([failed], complete(Settled("tok-f", 1_000, "IRR"))).differences
    assert (difference.kind, difference.recorded, difference.settled) == (
        "unrecorded",
        failed,
        Settled("tok-f", 1_000, "IRR"),
    )


def test_another_amount_or_currency_at_the_gateway_is_named():
    ours = [received("a", 1_000), received("b", 2_000)]
    listing = complete(Settled("a", 999, "IRR"), Settled("b", 2_000, "USD"))

    kinds = [(d.kind, d.reference) for d in compare(ours, listing).differences]

    assert kinds == [("amount_differs", "a"), ("amount_differs", "b")]


def test_a_received_payment_a_complete_listing_lacks_is_not_settled():
    [difference] = compare([received("a")], complete()).differences
    assert (difference.kind, difference.payment_id, difference.settled) == (
        "not_settled",
        "pay-a",
        None,
    )


def test_an_incomplete_or_truncated_listing_names_nothing_the_gateway_lacks():
    partial = Settlements((Settled("x", 10, "IRR"),), complete=False)
    cut = Settlements((), complete=True, truncated=True)

    assert [d.kind for d in compare([received("a")], partial).differences] == ["unrecorded"]
    assert compare([received("a")], cut).differences == ()


# --- properties ---------------------------------------------------------------------------

references = st.text("abcdef", min_size=1, max_size=3)
amounts = st.integers(min_value=1, max_value=10**15)
currencies = st.sampled_from(["IRR", "USD"])
statuses = st.sampled_from(["started", "received", "failed"])
suites = st.dictionaries(
    references,
    st.tuples(statuses, amounts, currencies),
).map(lambda d: [Recorded(f"pay-{r}", r, *v) for r, v in d.items()])
listings = st.builds(
    Settlements,
    st.dictionaries(references, st.tuples(amounts, currencies)).map(
        lambda d: tuple(Settled(r, *v) for r, v in d.items())
    ),
    st.booleans(),
    st.booleans(),
)


@given(suites, listings)
def test_every_listed_payment_is_matched_or_named_once(suite, listing):
    result = compare(suite, listing)
    listed = {s.reference for s in listing.items}
    named = [d.reference for d in result.differences if d.kind != "not_settled"]

    assert len(named) == len(set(named))
    matched = sum(t.count for t in result.matched.values())
    assert matched + len(named) == len(listed)
    for currency, settled in result.settled.items():
        assert result.matched.get(currency, Totals()).amount <= settled.amount


@given(suites, listings)
def test_the_suite_and_a_listing_of_exactly_its_received_payments_agree(suite, listing):
    exact = Settlements(
        tuple(Settled(r.reference, r.amount, r.currency) for r in suite if r.status == "received"),
        complete=listing.complete,
        truncated=listing.truncated,
    )
    assert compare(suite, exact).differences == ()


@given(suites, listings)
def test_only_a_complete_listing_names_what_the_gateway_lacks(suite, listing):
    lacking = [d for d in compare(suite, listing).differences if d.kind == "not_settled"]
    listed = {s.reference for s in listing.items}

    if not listing.complete or listing.truncated:
        assert lacking == []
    else:
        assert {d.reference for d in lacking} == {
            r.reference for r in suite if r.status == "received" and r.reference not in listed
        }
