"""Values sealed at rest: round trip, bound to their context, rotation, refusals."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shared.sealing import DEV_SEALING_KEYS, PREFIX, KeyRing, SealingError, new_key

RING = KeyRing.parse(f"k2={new_key()}")
#: a constant key where it names a test (pytest-xdist workers must collect the same ids)
FIXED_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"


@given(value=st.text(max_size=300), context=st.text(max_size=80))
def test_a_sealed_value_opens_to_itself_and_does_not_show_it(value, context):
    sealed = RING.seal(value, context)
    assert sealed.startswith(f"{PREFIX}k2:")
    assert RING.open(sealed, context) == value
    if len(value) >= 4:
        assert value not in sealed


def test_the_same_value_seals_differently_each_time():
    assert RING.seal("IR062960000000100324200001", "c") != RING.seal(
        "IR062960000000100324200001", "c"
    )


def test_a_sealed_value_moved_to_another_row_does_not_open():
    sealed = RING.seal("IR062960000000100324200001", "payouts.iban:p-1")
    with pytest.raises(SealingError, match="does not open"):
        RING.open(sealed, "payouts.iban:p-2")


def test_a_tampered_value_does_not_open():
    sealed = RING.seal("secret", "c")
    flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealingError):
        RING.open(flipped, "c")
    with pytest.raises(SealingError):
        RING.open(sealed[: len(PREFIX) + 10], "c")


def test_rotation_seals_with_the_first_key_and_opens_with_any():
    old_key, new = new_key(), new_key()
    sealed_before = KeyRing.parse(f"old={old_key}").seal("secret", "c")
    rotated = KeyRing.parse(f"new={new}, old={old_key}")
    assert rotated.open(sealed_before, "c") == "secret"
    assert rotated.seal("secret", "c").startswith(f"{PREFIX}new:")
    with pytest.raises(SealingError, match="'old', which SEALING_KEYS does not hold"):
        KeyRing.parse(f"new={new}").open(sealed_before, "c")


def test_a_value_written_before_sealing_is_read_as_it_is():
    assert RING.open("IR062960000000100324200001", "c") == "IR062960000000100324200001"


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "k1",
        "k1=",
        "k1=short",
        "bad id=" + FIXED_KEY,
        "k1=" + FIXED_KEY + ",k1=" + FIXED_KEY,
        "k1=%%%",
    ],
)
def test_a_ring_that_cannot_be_read_is_refused_with_the_setting_named(spec):
    with pytest.raises(SealingError, match="SEALING_KEYS"):
        KeyRing.parse(spec)


def test_the_development_ring_is_a_valid_ring():
    assert KeyRing.parse(DEV_SEALING_KEYS).sealing_key_id == "dev"
