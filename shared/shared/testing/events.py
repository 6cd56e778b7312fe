"""Events as their producers publish them: with the owner's `source`, signed by its development key.

A test that plays escrow, payments, disputes or the marketplace towards a service sends what that
producer would; a test of forgery builds the forged record from these and changes one thing.
"""

from __future__ import annotations

from typing import Any

from shared.contract import registry
from shared.contract.base import Message
from shared.contract.envelope import CloudEvent, new_event, signed
from shared.signing import Signer


def producer_of(message: type[Message], type_: str | None = None) -> str:
    spec = registry.spec(type_ or message.TYPE)
    assert spec is not None and spec.producer is not None, f"{message.TYPE} has no producer"
    return spec.producer


def owned_event(message: Message, **options: Any) -> CloudEvent:
    """`message` in an envelope from its type's producer, signed with that producer's
    development key (the key every service trusts outside production)."""
    producer = producer_of(type(message), options.get("type_"))
    return new_event(message, source=producer, signer=Signer.development(producer), **options)


def resigned(event: CloudEvent, producer: str) -> CloudEvent:
    """`event` (changed after it was signed) signed again by `producer`'s development key."""
    unsigned = event.model_copy(update={"signature": None, "signaturekeyid": None})
    return signed(unsigned, Signer.development(producer))


def forgeries(message: Message, **options: Any) -> dict[str, tuple[CloudEvent, str]]:
    """`message` as an attacker who can write its topic could send it, each forgery with the
    dead-letter reason it must get: none may have any effect."""
    producer = producer_of(type(message), options.get("type_"))
    genuine = owned_event(message, **options)
    tampered_data = {**genuine.data, "tampered": True}
    own_key = Signer.generate(producer, "dev")
    return {
        "unsigned": (new_event(message, source=producer, **options), "bad_signature"),
        "signed with a key of its own under the producer's key id": (
            new_event(message, source=producer, signer=own_key, **options),
            "bad_signature",
        ),
        "changed after it was signed": (
            genuine.model_copy(update={"data": tampered_data}),
            "bad_signature",
        ),
        "signed by the marketplace as itself": (
            owned_event_as(
                message, "marketplace" if producer != "marketplace" else "escrow", **options
            ),
            "wrong_source",
        ),
        "the producer's signature, another source": (
            resigned(genuine.model_copy(update={"source": "attacker"}), producer),
            "wrong_source",
        ),
    }


def owned_event_as(message: Message, producer: str, **options: Any) -> CloudEvent:
    """`message` published and signed by `producer`, whoever owns its type."""
    return new_event(message, source=producer, signer=Signer.development(producer), **options)
