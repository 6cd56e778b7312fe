"""Signed events (issue 12 point 4): what a signature covers, which keys verify it, how an outside
producer signs, and what production refuses."""

from __future__ import annotations

import base64
import json

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from shared.contract.directory import UserContactUpdated
from shared.contract.envelope import new_event, read
from shared.contract.payments import PaymentPurpose, PaymentReceived
from shared.settings import ServiceSettings
from shared.signing import (
    BadSignature,
    DevelopmentKeyring,
    Keyring,
    Signer,
    SigningError,
    canonical,
    ensure_keys,
    is_development_key,
    ring_of,
)
from shared.testing.production import production_settings

RECEIVED = PaymentReceived(
    payment_id="pay-1",
    purpose=PaymentPurpose.ESCROW,
    payer_id="emp-1",
    amount=4_000_000,
    currency="IRR",
    escrow_id="esc-1",
    gateway="zarinpal",
    reference="A00000000000000000000000000012345678",
    guaranteed=True,
)


def sent(signer: Signer, message=RECEIVED) -> dict:
    """The JSON object a consumer reads, from the bytes the producer sent."""
    raw = new_event(message, source=signer.producer, signer=signer).encode()
    return read(raw)[1]


def ring_with(*signers: Signer) -> Keyring:
    return Keyring.parse(ring_of(signers))


def test_a_signed_event_verifies_under_its_producer_s_key():
    escrow = Signer.generate("escrow", "2026-12")
    document = sent(escrow)
    assert document["signaturekeyid"] == "2026-12" and len(document["signature"]) == 86
    ring_with(escrow).verify(document, "escrow")


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("data", lambda d: d["data"].update(payer_id="outsider")),
        ("data", lambda d: d["data"].update(amount=4_000_001)),
        ("data", lambda d: d["data"].update(extra="field")),
        ("source", lambda d: d.update(source="payments")),
        ("type", lambda d: d.update(type="payments.PaymentFailed.v1")),
        ("time", lambda d: d.update(time="2099-01-01T00:00:00Z")),
        ("id", lambda d: d.update(id="another-id")),
        ("correlation", lambda d: d.update(correlationid="another")),
        ("added extension", lambda d: d.update(actortoken="x")),
        ("key id", lambda d: d.update(signaturekeyid="other")),
        ("removed attribute", lambda d: d.pop("correlationid")),
    ],
)
def test_any_change_to_a_signed_event_breaks_its_signature(where, change):
    escrow = Signer.generate("escrow", "k1")
    ring = Keyring.parse(f"{escrow.ring_entry()},escrow:other={escrow.public_key}")
    document = sent(escrow)
    change(document)
    with pytest.raises(BadSignature):
        ring.verify(document, "escrow")


def test_unsigned_events_and_keys_of_other_producers_or_unknown_ids_are_refused():
    escrow, attacker = Signer.generate("escrow", "k1"), Signer.generate("escrow", "k1")
    payments = Signer.generate("payments", "k1")
    ring = ring_with(escrow, payments)
    unsigned = read(new_event(RECEIVED, source="escrow").encode())[1]
    with pytest.raises(BadSignature, match="not signed"):
        ring.verify(unsigned, "escrow")
    with pytest.raises(BadSignature, match="does not verify"):
        ring.verify(sent(attacker), "escrow")  # a key of its own, under escrow's key id
    with pytest.raises(BadSignature, match="does not verify"):
        ring.verify(sent(Signer("escrow", "k1", payments.key)), "escrow")
    with pytest.raises(BadSignature, match="has no key"):
        ring.verify(sent(Signer.generate("escrow", "k9")), "escrow")
    with pytest.raises(BadSignature, match="does not verify under escrow:k1"):
        ring.verify(sent(payments), "escrow")  # payments' signature is no escrow signature
    forged = sent(escrow)
    forged["signature"] = "A" * 86
    with pytest.raises(BadSignature):
        ring.verify(forged, "escrow")
    forged["signature"] = "!" * 86
    with pytest.raises(BadSignature):
        ring.verify(forged, "escrow")


def test_rotation_several_keys_per_producer_each_verifies_its_own_events():
    old, new = Signer.generate("escrow", "2026-11"), Signer.generate("escrow", "2026-12")
    ring = ring_with(old, new)
    ring.verify(sent(old), "escrow")
    ring.verify(sent(new), "escrow")
    with pytest.raises(BadSignature, match="has no key '2026-11'"):
        ring_with(new).verify(sent(old), "escrow")  # the old key retired: its events refused


def test_an_outside_producer_signs_rfc_8785_of_its_event_with_any_ed25519_library():
    """The third-party path, as the README and the AsyncAPI document describe it: add
    `signaturekeyid`, canonicalise (RFC 8785), sign, add `signature` (base64url, no padding);
    any key order or whitespace on the wire verifies."""
    key = Ed25519PrivateKey.generate()
    public = base64.urlsafe_b64encode(key.public_key().public_bytes_raw()).decode().rstrip("=")
    ring = Keyring.parse(f"marketplace:crm-1={public}")
    event = {
        "type": "directory.UserContactUpdated.v1",
        "specversion": "1.0",
        "source": "marketplace",
        "id": "0b6f9a5e-1c0e-4b43-8f55-0e1e6b3c2d10",
        "time": "2026-12-03T10:00:00+03:30",
        "datacontenttype": "application/json",
        "data": {"user_id": "u-1", "display_name": "مریم", "email": "m@example.com"},
        "signaturekeyid": "crm-1",
    }
    signature = key.sign(rfc8785.dumps(event))
    event["signature"] = base64.urlsafe_b64encode(signature).decode().rstrip("=")
    wire = json.dumps(dict(reversed(list(event.items()))), indent=2, ensure_ascii=True)
    ring.verify(json.loads(wire), "marketplace")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@given(data=st.dictionaries(st.text(), json_values, max_size=6))
def test_whatever_the_data_a_signature_survives_the_wire_and_covers_every_value(data):
    escrow = Signer.generate("escrow", "k1")
    document = {"specversion": "1.0", "id": "e-1", "source": "escrow", "data": data}
    document.update(escrow.sign(document))
    wire = json.loads(json.dumps(document, ensure_ascii=False))
    ring = ring_with(escrow)
    ring.verify(wire, "escrow")
    wire["data"] = {**data, "\x7f-added": 1}
    with pytest.raises(BadSignature):
        ring.verify(wire, "escrow")


def test_a_value_without_canonical_form_is_a_bad_signature_not_a_crash():
    with pytest.raises(BadSignature, match="no canonical form"):
        canonical({"data": {"amount": 2**60}})
    with pytest.raises(BadSignature, match="no canonical form"):
        canonical({"data": {"amount": float("nan")}})


def test_development_keys_are_derived_from_the_producer_s_name():
    ring = DevelopmentKeyring()
    ring.verify(sent(Signer.development("escrow")), "escrow")
    ring.verify(sent(Signer.development("probe")), "probe")
    with pytest.raises(BadSignature):
        ring.verify(sent(Signer.development("payments")), "escrow")
    with pytest.raises(BadSignature, match="has no key"):
        ring.verify(sent(Signer.generate("escrow", "k1")), "escrow")


@pytest.mark.parametrize(
    "spec",
    [
        "escrow=abc",
        "escrow:k1",
        "Escrow:k1=" + Signer.development("x").public_key,
        "escrow:k1=c2hvcnQ",
        "escrow:k 1=" + Signer.development("x").public_key,
    ],
)
def test_a_ring_that_cannot_be_read_is_refused(spec):
    with pytest.raises(SigningError):
        Keyring.parse(spec)


def test_a_key_id_twice_for_one_producer_is_refused():
    key = Signer.generate("escrow", "k1")
    with pytest.raises(SigningError, match="appears twice"):
        Keyring.parse(f"{key.ring_entry()},{key.ring_entry()}")


def test_a_signing_key_setting_round_trips_and_bad_ones_name_the_setting_not_the_value():
    key = Signer.generate("escrow", "k1")
    assert Signer.parse("escrow", key.setting()).public_key == key.public_key
    with pytest.raises(ValueError, match="SIGNING_KEY") as refused:
        ServiceSettings(signing_key="k1=secret-garbage-value")
    assert "secret-garbage-value" not in str(refused.value)
    with pytest.raises(ValueError, match="EVENT_KEYS"):
        ServiceSettings(event_keys="escrow:k1=nope")


def test_production_requires_signing_keys_that_are_not_the_development_ones():
    ServiceSettings(**production_settings())
    with pytest.raises(ValueError, match="SIGNING_KEY is required"):
        ServiceSettings(**production_settings(without=("signing_key",)))
    with pytest.raises(ValueError, match="EVENT_KEYS is required"):
        ServiceSettings(**production_settings(without=("event_keys",)))
    dev = Signer.development("escrow")
    with pytest.raises(ValueError, match="development SIGNING_KEY"):
        ServiceSettings(**production_settings(service_name="escrow", signing_key=dev.setting()))
    ring = production_settings()["event_keys"]
    with pytest.raises(ValueError, match=r"development keys \(escrow:dev\)"):
        ServiceSettings(**production_settings(event_keys=f"{ring},{dev.ring_entry()}"))


def test_settings_sign_as_the_service_and_read_the_ring():
    key = Signer.generate("escrow", "k7")
    settings = ServiceSettings(
        service_name="escrow", signing_key=key.setting(), event_keys=key.ring_entry()
    )
    assert (settings.signer().producer, settings.signer().key_id) == ("escrow", "k7")
    settings.keyring().verify(sent(settings.signer()), "escrow")
    contacts = UserContactUpdated(user_id="u-1")
    with pytest.raises(BadSignature):
        settings.keyring().verify(sent(Signer.development("marketplace"), contacts), "marketplace")


def test_a_local_stack_generates_a_key_per_producer_once_and_keeps_it_private(tmp_path):
    path = tmp_path / "keys" / "event-signing-keys.json"
    first = ensure_keys(path, ["escrow", "marketplace"])
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    again = ensure_keys(path, ["escrow", "marketplace", "payments"])
    assert again["escrow"].public_key == first["escrow"].public_key
    assert set(again) == {"escrow", "marketplace", "payments"}
    ring = Keyring.parse(ring_of(again.values()))
    assert ring.producers() == ["escrow", "marketplace", "payments"]
    ring.verify(sent(again["escrow"]), "escrow")
    assert not is_development_key("escrow", again["escrow"].key.public_key())
