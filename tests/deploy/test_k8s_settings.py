"""Every workload of every overlay starts: its containers' settings build from exactly the
environment Kubernetes would give them.

Each overlay is rendered with `kubectl kustomize`; for each container of every Deployment and
Job the environment is assembled as the kubelet does it: `envFrom` ConfigMaps (their rendered
data), then `env` (`value` with `$(VAR)` expanded from the variables before it, `configMapKeyRef`
from the rendered ConfigMap, `secretKeyRef` from PLACEHOLDERS below: a value of the shape the
setting parses). Secret volumes are written to a temporary folder with placeholder files, and a
variable naming a file under one of their mount paths is pointed there. Then the container's own
settings are built from that environment alone (the process environment is cleared first): the
service's settings class, the sandbox's, or the reconciler's `escrowctl` configuration. A refused
setting fails the test with the settings' own message, as the pod would crash with it.
"""

from __future__ import annotations

import datetime
import importlib
import re
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key
from cryptography.x509.oid import NameOID
from shared.sealing import new_key
from shared.signing import Signer
from shared.testing.production import RING_PRODUCERS

OVERLAYS = ("dev", "prod")
SERVICES = ("escrow", "payments", "disputes", "notifications")


class Keys:
    """The key material of one rendering: one operator key pair for both of its halves."""

    def __init__(self) -> None:
        self.operator = Ed25519PrivateKey.generate()

    @staticmethod
    def public_pem(key: Ed25519PrivateKey | None = None) -> str:
        key = key or Ed25519PrivateKey.generate()
        return (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def operator_private_pem(self) -> str:
        return self.operator.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()


def ca_certificate() -> str:
    """A self-signed CA certificate, valid over fixed dates (no wall clock)."""
    key = generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cluster-ca")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC))
        .not_valid_after(datetime.datetime(2036, 1, 1, tzinfo=datetime.UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def token() -> str:
    return secrets.token_urlsafe(24)


def alphanumeric() -> str:
    return secrets.token_hex(16)  # CloudNativePG's passwords: URL-safe, no escaping


#: what a Secret holds for a variable (or a file variable) of that name, in the shape the
#: settings parse; (service, keys) -> value. A reference to a variable that is not here fails the
#: test: add the shape of the new secret.
Placeholder = Callable[[str, Keys], str]
PLACEHOLDERS: dict[str, Placeholder] = {
    # CloudNativePG's `<cluster>-app` (host is the cluster's read-write Service)
    "DB_HOST": lambda svc, k: f"{svc}-db-rw",
    "DB_PORT": lambda svc, k: "5432",
    "DB_NAME": lambda svc, k: svc,
    "DB_USER": lambda svc, k: svc,
    "DB_PASSWORD": lambda svc, k: alphanumeric(),
    # Strimzi's KafkaUser Secret and cluster CA
    "KAFKA_SASL_PASSWORD": lambda svc, k: alphanumeric(),
    "KAFKA_SSL_CAFILE": lambda svc, k: ca_certificate(),
    # the suite's own keys (shared.signing, shared.sealing; PEM public keys)
    "SIGNING_KEY": lambda svc, k: Signer.generate(svc, "k1").setting(),
    "EVENT_KEYS": lambda svc, k: ",".join(
        Signer.generate(p, "k1").ring_entry() for p in RING_PRODUCERS
    ),
    "SEALING_KEYS": lambda svc, k: f"k1={new_key()}",
    "ACTOR_TOKEN_PUBLIC_KEY_FILE": lambda svc, k: k.public_pem(),
    "OPERATOR_TOKEN_PUBLIC_KEY": lambda svc, k: k.public_pem(k.operator),
    "OPERATOR_TOKEN_PRIVATE_KEY_FILE": lambda svc, k: k.operator_private_pem(),
    # payments: the PSPs (Secret payments-psp, prod) and the sandbox (Secret payments-sandbox, dev)
    "ZARINPAL_MERCHANT_ID": lambda svc, k: str(uuid.uuid4()),
    "ZARINPAL_ACCESS_TOKEN": lambda svc, k: token(),
    "VANDAR_BUSINESS": lambda svc, k: "escrow-marketplace",
    "VANDAR_ACCESS_TOKEN": lambda svc, k: token(),
    "STRIPE_API_KEY": lambda svc, k: f"sk_live_{secrets.token_hex(24)}",
    "STRIPE_WEBHOOK_SECRET": lambda svc, k: f"whsec_{secrets.token_hex(16)}",
    "SANDBOX_SECRET": lambda svc, k: secrets.token_hex(32),
    # notifications: Secrets notifications-smtp and notifications-sms
    "SMTP_USERNAME": lambda svc, k: "escrow-mailer",
    "SMTP_PASSWORD": lambda svc, k: token(),
    "SMS_API_KEY": lambda svc, k: secrets.token_hex(32),
    "SMS_SENDER": lambda svc, k: "10004346",
}


def placeholder(variable: str, service: str, keys: Keys) -> str:
    if variable in PLACEHOLDERS:
        return PLACEHOLDERS[variable](service, keys)
    if variable.endswith("_PUBLIC_KEY"):
        return keys.public_pem()
    if variable.endswith("_URL"):
        return f"https://{service}.placeholder.example"
    raise AssertionError(
        f"{variable} of {service} comes from a Secret: add its shape to PLACEHOLDERS"
    )


def config_maps(docs: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}


_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)`: a variable defined before is replaced, any other stays as written."""
    return _REFERENCE.sub(lambda m: env.get(m.group(1), m.group(0)), value)


def environment(
    container: dict[str, Any],
    pod: dict[str, Any],
    docs: list[dict[str, Any]],
    service: str,
    keys: Keys,
    files: Path,
) -> dict[str, str]:
    maps = config_maps(docs)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, f"{service}: envFrom {source}: only ConfigMaps are used"
        ref = source["configMapRef"]
        assert ref["name"] in maps, f"{service}: envFrom names a ConfigMap not rendered: {ref}"
        env.update({source.get("prefix", "") + k: v for k, v in maps[ref["name"]].items()})
    for entry in container.get("env", []):
        name = entry["name"]
        if "value" in entry:
            env[name] = expand(entry["value"], env)
        elif "secretKeyRef" in entry.get("valueFrom", {}):
            env[name] = placeholder(name, service, keys)
        elif "configMapKeyRef" in entry.get("valueFrom", {}):
            ref = entry["valueFrom"]["configMapKeyRef"]
            env[name] = maps[ref["name"]][ref["key"]]
        else:
            raise AssertionError(f"{service}: {name}: no value this test knows how to fill")
    mounted_secrets(container, pod, env, service, keys, files)
    return env


def mounted_secrets(
    container: dict[str, Any],
    pod: dict[str, Any],
    env: dict[str, str],
    service: str,
    keys: Keys,
    files: Path,
) -> None:
    """Writes each mounted Secret's items under `files`; a variable naming one of them gets the
    placeholder of its own name (ACTOR_TOKEN_PUBLIC_KEY_FILE: a PEM public key) and is pointed
    at the written file."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        folder = files / mount["mountPath"].strip("/")
        folder.mkdir(parents=True, exist_ok=True)
        items = secret.get("items") or []
        assert items, f"{service}: mount every Secret's keys by name ({secret['secretName']})"
        for item in items:
            path = f"{mount['mountPath'].rstrip('/')}/{item['path']}"
            readers = [n for n, v in env.items() if v == path]
            assert readers, f"{service}: {path} is mounted but no variable names it"
            (folder / item["path"]).write_text(placeholder(readers[0], service, keys))
            for reader in readers:
                env[reader] = str(folder / item["path"])


def workloads(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(Kind/name/container, container, pod spec) of every Deployment's and Job's container."""
    found = []
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        pod = doc["spec"]["template"]["spec"]
        for container in pod["containers"]:
            found.append(
                (f"{doc['kind']}/{doc['metadata']['name']}/{container['name']}", container, pod)
            )
    return found


def service_settings(service: str) -> type[Any]:
    module = importlib.import_module(f"{service}.settings")
    (cls,) = [
        v
        for v in vars(module).values()
        if isinstance(v, type)
        and v.__name__.endswith("Settings")
        and v.__module__ == module.__name__
    ]
    return cls


def start(container: dict[str, Any]) -> tuple[str, Callable[[], Any]]:
    """What the container runs, and how it reads its settings: (service, build)."""
    args = container.get("args", [])
    command = container.get("command", [])
    if "escrowctl" in command:
        return "reconcile", build_reconcile
    if args == ["payments.sandbox"]:
        from payments.sandbox.settings import SandboxSettings

        return "payments", SandboxSettings
    assert args and args[0] in SERVICES, f"unknown workload {command} {args}"
    assert args[1:] in ([], ["migrate"]), args
    return args[0], service_settings(args[0])


def build_reconcile() -> Any:
    from shared.cli.config import CliConfig
    from shared.contract.base import Role

    config = CliConfig.load()
    assert {"escrow", "payments"} <= set(config.services), config.services
    auth = config.reading(Role.OPERATOR)
    assert auth is not None, "the reconciler reads as the operator"
    request = next(
        auth.auth_flow(httpx.Request("GET", f"{config.services['escrow']}/ledger/totals"))
    )
    assert request.headers["authorization"].startswith("Bearer ")
    return config


def isolate(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], cwd: Path) -> None:
    """Exactly `env`, nothing inherited (and no var/suite.json of `make run` beside it)."""
    import os

    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(cwd)


def test_every_overlay_has_every_service_its_migrations_and_the_reconciler(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    for overlay in OVERLAYS:
        names = {w[0] for w in workloads(rendered[overlay])}
        for service in SERVICES:
            assert f"Deployment/{service}/{service}" in names
            assert f"Job/{service}-migrate/migrate" in names
        assert "Deployment/escrow-suite-reconcile/reconcile" in names
    assert "Deployment/payments-sandbox/sandbox" in {w[0] for w in workloads(rendered["dev"])}
    assert not any("sandbox" in w[0] for w in workloads(rendered["prod"]))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_container_builds_its_settings_from_its_environment(
    rendered: dict[str, list[dict[str, Any]]],
    overlay: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = rendered[overlay]
    keys = Keys()
    refused = []
    for label, container, pod in workloads(docs):
        service, build = start(container)
        files = tmp_path / label.replace("/", "_")
        files.mkdir()
        env = environment(container, pod, docs, service, keys, files)
        with monkeypatch.context() as patch:
            isolate(patch, env, files)
            try:
                settings = build()
            except Exception as error:  # the pod would crash with this
                refused.append(f"{overlay} {label}: {type(error).__name__}: {error}")
                continue
        if hasattr(settings, "environment"):  # the services' settings (not sandbox, reconciler)
            expected = "development" if (overlay, service) == ("dev", "payments") else "production"
            assert settings.environment == expected, f"{overlay} {label}"
    assert not refused, "\n".join(refused)


def test_a_payments_pod_without_the_psp_credentials_would_not_start(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # what this test guards against: before, the prod payments pod had no gateway settings
    docs = rendered["prod"]
    ((_, container, pod),) = [w for w in workloads(docs) if w[0] == "Deployment/payments/payments"]
    bare = {
        **container,
        "env": [e for e in container["env"] if not e["name"].startswith("ZARINPAL_")],
    }
    env = environment(bare, pod, docs, "payments", Keys(), tmp_path)
    with monkeypatch.context() as patch:
        isolate(patch, env, tmp_path)
        with pytest.raises(ValueError, match="ZARINPAL_MERCHANT_ID"):
            service_settings("payments")()


def test_prod_payments_routes_each_currency_to_a_real_psp_with_its_credentials(
    rendered: dict[str, list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = rendered["prod"]
    ((_, container, pod),) = [w for w in workloads(docs) if w[0] == "Deployment/payments/payments"]
    env = environment(container, pod, docs, "payments", Keys(), tmp_path)
    with monkeypatch.context() as patch:
        isolate(patch, env, tmp_path)
        settings = service_settings("payments")()
    assert settings.environment == "production"
    assert settings.payment_routes() == {"IRR": "zarinpal", "USD": "stripe"}
    assert settings.payout_routes() == {"IRR": "vandar", "USD": "stripe"}
    assert "sandbox" not in settings.gateways_used()
    assert settings.public_url.startswith("https://")
    assert settings.public_http_port == 8012
    credentials = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container["env"]
        if e["name"].startswith(("ZARINPAL_", "VANDAR_", "STRIPE_"))
    }
    assert set(credentials) == {
        "ZARINPAL_MERCHANT_ID",
        "ZARINPAL_ACCESS_TOKEN",
        "VANDAR_BUSINESS",
        "VANDAR_ACCESS_TOKEN",
        "STRIPE_API_KEY",
        "STRIPE_WEBHOOK_SECRET",
    }
    assert {c["name"] for c in credentials.values()} == {"payments-psp"}


def test_dev_payments_uses_the_sandbox_of_the_dev_overlay_with_a_secret_of_its_own(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    docs = rendered["dev"]
    by_label = {w[0]: w for w in workloads(docs)}
    for label in ("Deployment/payments/payments", "Job/payments-migrate/migrate"):
        _, container, _ = by_label[label]
        env = {e["name"]: e for e in container["env"]}
        assert env["SANDBOX_SECRET"]["valueFrom"]["secretKeyRef"] == {
            "name": "payments-sandbox",
            "key": "secret",
        }
    _, sandbox, _ = by_label["Deployment/payments-sandbox/sandbox"]
    assert {e["name"]: e for e in sandbox["env"]}["SANDBOX_SECRET"]["valueFrom"][
        "secretKeyRef"
    ] == {"name": "payments-sandbox", "key": "secret"}
    (settings,) = [d for d in docs if d["metadata"]["name"].startswith("payments-settings")]
    service = [
        d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "payments-sandbox"
    ]
    assert service and settings["data"]["SANDBOX_URL"] == "http://payments-sandbox:8010"
