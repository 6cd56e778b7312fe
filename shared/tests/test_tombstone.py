"""A tombstone's headers: signed by the topic's owner over its topic, key and time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from shared.contract.envelope import EnvelopeError
from shared.contract.tombstone import (
    KEY_ID_HEADER,
    SIGNATURE_HEADER,
    TIME_HEADER,
    Tombstone,
    read_tombstone,
    tombstone_headers,
)
from shared.signing import DevelopmentKeyring, Signer

TOPIC = "user-contacts"
WHEN = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)
MARKETPLACE = Signer.development("marketplace")


def headers(**changed: str | None) -> list[tuple[str, bytes | None]]:
    found = {**tombstone_headers(TOPIC, "emp-1", WHEN, MARKETPLACE), **changed}
    return [(name, None if text is None else text.encode()) for name, text in found.items()]


def read(key: bytes | None = b"emp-1", found=None, owner: str = "marketplace") -> Tombstone:
    return read_tombstone(
        TOPIC, key, headers() if found is None else found, DevelopmentKeyring(), owner
    )


def reason(**options) -> str:
    with pytest.raises(EnvelopeError) as refused:
        read(**options)
    return refused.value.reason


def test_the_owner_s_signed_tombstone_reads_back_as_its_key_and_time():
    assert read() == Tombstone(TOPIC, "emp-1", WHEN)


def test_a_tombstone_of_another_key_or_topic_or_time_does_not_verify():
    assert reason(key=b"con-1") == "bad_signature"  # the signature names emp-1
    moved = tombstone_headers("other-topic", "emp-1", WHEN, MARKETPLACE)
    assert reason(found=[(k, v.encode()) for k, v in moved.items()]) == "bad_signature"
    later = [(TIME_HEADER, b"2027-01-01T00:00:00+00:00")] + [
        h for h in headers() if h[0] != TIME_HEADER
    ]
    assert reason(found=later) == "bad_signature"


def test_a_tombstone_signed_by_another_producer_or_key_is_refused():
    assert reason(owner="escrow") == "bad_signature"
    forged = tombstone_headers(TOPIC, "emp-1", WHEN, Signer.generate("marketplace", "dev"))
    assert reason(found=[(k, v.encode()) for k, v in forged.items()]) == "bad_signature"


def test_an_unsigned_or_undated_or_keyless_tombstone_is_refused():
    assert reason(found=[]) == "not_tombstone"  # no time
    unsigned = [h for h in headers() if h[0] == TIME_HEADER]
    assert reason(found=unsigned) == "bad_signature"
    assert reason(found=headers(**{TIME_HEADER: "yesterday"})) == "not_tombstone"
    assert reason(found=headers(**{TIME_HEADER: "2026-12-06T09:30:00"})) == "not_tombstone"
    assert reason(key=None) == "not_tombstone"
    assert reason(key=b"") == "not_tombstone"
    assert reason(key=b"\xff\xfe") == "not_tombstone"
    assert reason(key=b"u" * 129) == "not_tombstone"


def test_a_repeated_or_undecodable_header_counts_as_absent():
    twice = [*headers(), (SIGNATURE_HEADER, b"x" * 86)]
    assert reason(found=twice) == "bad_signature"
    binary = [h for h in headers() if h[0] != KEY_ID_HEADER] + [(KEY_ID_HEADER, b"\xff")]
    assert reason(found=binary) == "bad_signature"
