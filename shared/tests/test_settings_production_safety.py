"""What production refuses beyond keys and tokens (issue 12 point 9): a database on this machine
however the URL spells it, SASL PLAIN without TLS, and key files that are blank, directories or
unreadable — each refused with a ValueError naming the setting."""

from __future__ import annotations

import os

import pytest
from shared.settings import ServiceSettings, is_local_host
from shared.testing.production import production_settings

SAFE_PRODUCTION = production_settings(
    without=("sealing_keys",),
    database_url="postgresql+asyncpg://escrow:pw@db.internal:5432/escrow",
)
LOCAL_DATABASES = [
    "postgresql+asyncpg://escrow:pw@[::1]:5432/escrow",
    "postgresql+asyncpg://escrow:pw@127.0.0.2:5432/escrow",
    "postgresql+asyncpg://escrow:pw@127.1.2.3/escrow",
    "postgresql+asyncpg://escrow:pw@[::ffff:127.0.0.1]:5432/escrow",
    "postgresql+asyncpg://escrow:pw@0.0.0.0:5432/escrow",
    "postgresql+asyncpg://escrow:pw@LocalHost.:5432/escrow",
    "postgresql+asyncpg://escrow:pw@db.localhost/escrow",
    "postgresql+asyncpg://escrow:pw@/escrow",  # no host: the local Unix socket
    "postgresql+asyncpg://escrow:pw@/escrow?host=/var/run/postgresql",
    "postgresql+asyncpg://escrow:pw@db.internal/escrow?host=127.0.0.1",
]


@pytest.mark.parametrize("url", LOCAL_DATABASES)
def test_production_refuses_a_database_on_this_machine_however_it_is_written(url):
    with pytest.raises(ValueError, match="DATABASE_URL points at this machine") as refused:
        ServiceSettings(**{**SAFE_PRODUCTION, "database_url": url})
    assert "pw@" not in str(refused.value)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+asyncpg://escrow:pw@db.internal:5432/escrow",
        "postgresql+asyncpg://escrow:pw@10.0.4.7:5432/escrow?ssl=require",
        "postgresql+asyncpg://escrow:pw@[fd00::7]:5432/escrow",
        "postgresql+asyncpg://escrow:pw@notifications-db-rw:5432/notifications?ssl=require",
    ],
)
def test_production_accepts_a_database_elsewhere(url):
    assert ServiceSettings(**{**SAFE_PRODUCTION, "database_url": url}).database_url == url


def test_production_refuses_a_database_url_it_cannot_read_without_showing_it():
    with pytest.raises(ValueError, match="DATABASE_URL is not a database URL") as refused:
        ServiceSettings(**{**SAFE_PRODUCTION, "database_url": "secret-garbage"})
    assert "secret-garbage" not in str(refused.value)


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("127.255.0.1", True),
        ("::ffff:127.0.0.1", True),
        ("0:0:0:0:0:0:0:1", True),
        ("", True),
        ("/tmp", True),
        ("db.internal", False),
        ("192.168.1.4", False),
        ("localhost.example.com", False),
    ],
)
def test_which_hosts_are_this_machine(host, local):
    assert is_local_host(host) is local


def test_production_refuses_sasl_plain_without_tls():
    plain = {**SAFE_PRODUCTION, "kafka_sasl_mechanism": "PLAIN"}
    needs_tls = "KAFKA_SASL_MECHANISM=PLAIN needs KAFKA_SECURITY_PROTOCOL=SASL_SSL"
    with pytest.raises(ValueError, match=needs_tls):
        ServiceSettings(**{**plain, "kafka_security_protocol": "SASL_PLAINTEXT"})
    assert ServiceSettings(**plain).kafka_sasl_mechanism == "PLAIN"  # over SASL_SSL
    scram = {**SAFE_PRODUCTION, "kafka_sasl_mechanism": "SCRAM-SHA-512"}
    assert ServiceSettings(**{**scram, "kafka_security_protocol": "SASL_PLAINTEXT"})
    # outside production the embedded stack's plaintext broker is fine
    assert ServiceSettings(kafka_sasl_mechanism="PLAIN", kafka_security_protocol="SASL_PLAINTEXT")


KEY_FILES = [
    "ACTOR_TOKEN_PUBLIC_KEY_FILE",
    "KAFKA_SSL_CAFILE",
    "KAFKA_SSL_CERTFILE",
    "KAFKA_SSL_KEYFILE",
]


@pytest.mark.parametrize("variable", KEY_FILES)
def test_a_blank_key_file_setting_is_unset(monkeypatch, variable):
    monkeypatch.setenv(variable, "")
    settings = ServiceSettings()
    assert getattr(settings, variable.lower()) is None
    assert settings.actor_token_keys() == []
    monkeypatch.setenv(variable, "   ")
    assert getattr(ServiceSettings(), variable.lower()) is None


def test_production_with_an_inline_key_and_a_blank_key_file_starts(monkeypatch):
    monkeypatch.setenv("ACTOR_TOKEN_PUBLIC_KEY_FILE", "")
    settings = ServiceSettings(**SAFE_PRODUCTION)
    assert settings.actor_token_public_key_file is None
    assert len(settings.actor_token_keys()) == 1


@pytest.mark.parametrize("variable", KEY_FILES)
def test_a_key_file_that_is_a_directory_is_refused_naming_the_setting(
    monkeypatch, tmp_path, variable
):
    monkeypatch.setenv(variable, str(tmp_path))
    with pytest.raises(ValueError, match=f"{variable} is not a readable file"):
        ServiceSettings()
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValueError, match=f"{variable} is not a readable file"):
        ServiceSettings(**{k: v for k, v in SAFE_PRODUCTION.items() if k != "environment"})


@pytest.mark.parametrize("variable", KEY_FILES)
def test_a_missing_key_file_is_refused_naming_the_setting(monkeypatch, tmp_path, variable):
    for path in (tmp_path / "absent.pem", tmp_path / "a-file" / "under-a-file.pem"):
        (tmp_path / "a-file").write_text("not a directory")
        monkeypatch.setenv(variable, str(path))
        with pytest.raises(ValueError, match=f"{variable} is not a readable file"):
            ServiceSettings()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_key_file_is_refused_naming_the_setting(monkeypatch, tmp_path):
    key = tmp_path / "public.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\nreal\n-----END PUBLIC KEY-----")
    key.chmod(0)
    monkeypatch.setenv("ACTOR_TOKEN_PUBLIC_KEY_FILE", str(key))
    with pytest.raises(ValueError, match="ACTOR_TOKEN_PUBLIC_KEY_FILE is not a readable file"):
        ServiceSettings()


def test_a_readable_key_file_is_read(tmp_path):
    key = tmp_path / "public.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\nreal\n-----END PUBLIC KEY-----")
    settings = ServiceSettings(**{**SAFE_PRODUCTION, "actor_token_public_key_file": key})
    assert settings.actor_token_public_key_file == key
    assert settings.actor_token_keys()[-1] == key.read_text()
