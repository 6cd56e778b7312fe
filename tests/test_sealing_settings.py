"""Each service's sealing ring from its settings (issue 12 point 9): required in production where
the service seals at rest, never the development key, and a refused setting never shows its
value."""

import pytest
from escrow.settings import EscrowSettings
from notifications.settings import NotificationsSettings
from payments.settings import PaymentsSettings
from shared.sealing import DEV_SEALING_KEYS, new_key
from shared.testing.production import production_settings

PRODUCTION = production_settings(
    without=("sealing_keys",),
    database_url="postgresql+asyncpg://svc:hunter2-password@db.internal:5432/svc",
)


@pytest.mark.parametrize("settings", [PaymentsSettings, NotificationsSettings])
def test_a_service_that_seals_needs_its_own_ring_in_production(settings):
    with pytest.raises(ValueError, match="SEALING_KEYS is required"):
        settings(**PRODUCTION)
    with pytest.raises(ValueError, match="development sealing key"):
        settings(**PRODUCTION, sealing_keys=f"mine={new_key()},{DEV_SEALING_KEYS}")
    ring = settings(**PRODUCTION, sealing_keys=f"k1={new_key()}").sealing_ring()
    assert ring is not None and ring.sealing_key_id == "k1"
    assert settings().sealing_ring().sealing_key_id == "dev"  # development: the dev ring


def test_a_service_that_seals_nothing_has_no_ring_and_needs_none():
    assert EscrowSettings(**PRODUCTION).sealing_ring() is None


def test_a_refused_setting_never_shows_its_value():
    with pytest.raises(ValueError) as refused:
        PaymentsSettings(sealing_keys="k1=not-a-key-but-a-secret")
    assert "SEALING_KEYS" in str(refused.value)
    assert "not-a-key-but-a-secret" not in str(refused.value)
    with pytest.raises(ValueError) as refused:
        PaymentsSettings(**{**PRODUCTION, "actor_token_audience": None})
    assert "hunter2-password" not in str(refused.value)
