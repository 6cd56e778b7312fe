"""The platform fee (DESIGN §2): max(min_fee, floor(gross * bps / 10000)), never above the gross,
in integer arithmetic; amount and currency guards."""

from fractions import Fraction

import pytest
from escrow.domain import MAX_AMOUNT, FeePolicy, FeeSplit, InvalidAmount, UnsupportedCurrency
from escrow.domain.money import check_amount, check_currency, check_share, fee_policy_for
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("fee_bps", "min_fee", "gross", "fee"),
    [
        (1000, 0, 1, 0),  # 0.1 rounds down
        (1000, 0, 9, 0),
        (1000, 0, 10, 1),
        (1000, 0, 19, 1),  # 1.9 rounds down, never up
        (1000, 500, 1_000, 500),  # 10% is 100: the minimum fee applies
        (1000, 500, 5_000, 500),  # both rules agree exactly
        (1000, 500, 5_010, 501),  # the percentage wins again
        (1000, 500, 400, 400),  # minimum above the gross: the fee is the whole gross
        (1000, 500, 500, 500),
        (1000, 500, 1, 1),
        (0, 0, 1, 0),
        (0, 0, MAX_AMOUNT, 0),
        (0, 100, 50, 50),  # bps 0 still honours the minimum, capped at the gross
        (1, 0, 9_999, 0),
        (1, 0, 10_000, 1),
        (10_000, 0, MAX_AMOUNT, MAX_AMOUNT),
        (1000, 0, MAX_AMOUNT, MAX_AMOUNT // 10),
        (333, 7, 10**15 - 1, (10**15 - 1) * 333 // 10_000),
        (1000, MAX_AMOUNT, MAX_AMOUNT, MAX_AMOUNT),
    ],
)
def test_fee_at_the_edges(fee_bps: int, min_fee: int, gross: int, fee: int) -> None:
    split = FeePolicy(fee_bps, min_fee).split(gross)
    assert split == FeeSplit(gross=gross, fee=fee, net=gross - fee)


def test_a_zero_share_pays_no_fee_even_with_a_minimum() -> None:
    assert FeePolicy(1000, 500).split(0) == FeeSplit(0, 0, 0)


@given(
    fee_bps=st.integers(0, 10_000),
    min_fee=st.integers(0, 10**6),
    gross=st.integers(1, MAX_AMOUNT),
)
def test_fee_matches_exact_rational_arithmetic(fee_bps: int, min_fee: int, gross: int) -> None:
    split = FeePolicy(fee_bps, min_fee).split(gross)
    percentage = Fraction(gross * fee_bps, 10_000)
    assert isinstance(split.fee, int) and isinstance(split.net, int)
    assert split.fee + split.net == gross
    assert 0 <= split.fee <= gross
    assert split.fee == min(gross, max(min_fee, int(percentage)))  # int() floors a positive


@pytest.mark.parametrize(
    ("fee_bps", "min_fee"),
    [(-1, 0), (10_001, 0), (0, -1), (10.0, 0), (True, 0), (1000, 1.5), (1000, MAX_AMOUNT + 1)],
)
def test_a_bad_fee_setting_fails_at_start(fee_bps: object, min_fee: object) -> None:
    with pytest.raises(ValueError):
        FeePolicy(fee_bps, min_fee)  # type: ignore[arg-type]


def test_money_never_moves_in_a_currency_without_a_fee_policy() -> None:
    with pytest.raises(UnsupportedCurrency):
        fee_policy_for({"IRR": FeePolicy(0)}, "USD")


@pytest.mark.parametrize("amount", [1, 2, MAX_AMOUNT - 1, MAX_AMOUNT])
def test_amounts_in_range_pass(amount: int) -> None:
    assert check_amount(amount) == amount


@pytest.mark.parametrize(
    "amount", [0, -1, MAX_AMOUNT + 1, True, False, 1.0, 100.5, "100", None, Fraction(1)]
)
def test_anything_else_is_an_invalid_amount(amount: object) -> None:
    with pytest.raises(InvalidAmount) as refusal:
        check_amount(amount)
    assert refusal.value.reason_code == "invalid_amount"


@pytest.mark.parametrize(("share", "ok"), [(0, True), (MAX_AMOUNT, True), (-1, False)])
def test_a_share_may_be_zero_but_not_negative(share: int, ok: bool) -> None:
    if ok:
        assert check_share(share, "contractor_amount") == share
    else:
        with pytest.raises(InvalidAmount):
            check_share(share, "contractor_amount")


@pytest.mark.parametrize("currency", ["irr", "IR", "IRRR", "I1R", "", 364, None, "EUR"])
def test_only_accepted_iso_codes_pass(currency: object) -> None:
    with pytest.raises(UnsupportedCurrency) as refusal:
        check_currency(currency, {"IRR", "USD"})
    assert refusal.value.reason_code == "unsupported_currency"
    assert check_currency("USD", {"IRR", "USD"}) == "USD"
