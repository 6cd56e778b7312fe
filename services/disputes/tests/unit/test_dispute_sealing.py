"""A sealed dispute snapshot opens only as its own dispute's; one stored before sealing (a JSON
object) is read as it is."""

from types import SimpleNamespace

import pytest
from disputes.adapters.repository import opened, sealed
from shared.sealing import DEV_SEALING_KEYS, SESSION_INFO_KEY, KeyRing, SealingError

SESSION = SimpleNamespace(info={SESSION_INFO_KEY: KeyRing.parse(DEV_SEALING_KEYS)})
SNAPSHOT = {"dispute_id": "d-1", "statements": [{"text": "call me on 0912 345 6789"}]}


def test_a_sealed_snapshot_opens_as_its_dispute_and_hides_its_text():
    stored = sealed(SESSION, "d-1", SNAPSHOT)
    assert "0912" not in stored
    assert opened(SESSION, "d-1", stored) == SNAPSHOT


def test_a_sealed_snapshot_copied_to_another_dispute_does_not_open():
    with pytest.raises(SealingError):
        opened(SESSION, "d-2", sealed(SESSION, "d-1", SNAPSHOT))


def test_a_snapshot_stored_before_sealing_is_read_as_it_is():
    assert opened(SESSION, "d-1", SNAPSHOT) == SNAPSHOT
