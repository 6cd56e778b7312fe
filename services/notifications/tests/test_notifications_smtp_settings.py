"""Production email goes over TLS to a real mail server (issue 12 point 9): SMTP without STARTTLS
(the password and every message in clear) or to this machine (`make run`'s debugging server) is
refused, naming the setting."""

from __future__ import annotations

import pytest
from notifications.settings import NotificationsSettings
from shared.testing.production import production_settings

PRODUCTION = production_settings(
    database_url="postgresql+asyncpg://notifications@db.internal:5432/notifications",
    smtp_port=587,
    smtp_password="smtp-hunter2",
)


def test_production_email_over_starttls_to_a_mail_server_is_accepted():
    settings = NotificationsSettings(**PRODUCTION)
    assert (settings.smtp_host, settings.smtp_starttls) == ("smtp.mail.example", True)


def test_production_refuses_smtp_without_tls():
    with pytest.raises(ValueError, match="SMTP_STARTTLS must be true") as refused:
        NotificationsSettings(**{**PRODUCTION, "smtp_starttls": False})
    assert "smtp-hunter2" not in str(refused.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2", "", "  "])
def test_production_refuses_smtp_to_this_machine(host):
    with pytest.raises(ValueError, match="SMTP_HOST points at this machine"):
        NotificationsSettings(**{**PRODUCTION, "smtp_host": host})


def test_the_development_defaults_are_refused_in_production_and_fine_elsewhere():
    defaults = {k: v for k, v in PRODUCTION.items() if not k.startswith("smtp_")}
    with pytest.raises(ValueError) as refused:
        NotificationsSettings(**defaults)
    assert "SMTP_HOST" in str(refused.value) and "SMTP_STARTTLS" in str(refused.value)
    development = NotificationsSettings()
    assert (development.smtp_host, development.smtp_starttls) == ("127.0.0.1", False)
