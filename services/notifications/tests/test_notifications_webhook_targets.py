"""Where a webhook may go (issue 12 point 7): only to public addresses, checked when the
connection opens and connected to as checked (DNS rebinding), over https in production, no
redirect followed, and an error that keeps the answer's status, never its body.

Against real servers on this machine; only the resolver is a stand-in, answering what a hostile
DNS server would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from notifications.adapters.channels import ChannelError, Letter
from notifications.adapters.channels.webhook import WebhookChannel, any_address, public_only
from notifications.domain.rendering import Rendered
from notifications.entrypoints.app import channels_from
from notifications.settings import NotificationsSettings
from shared.clock import SystemClock
from shared.devstack.processes import free_port
from shared.testing.production import production_settings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

REFUSED = "webhook target resolves to a non-public address"
PRODUCTION = production_settings(
    database_url="postgresql+asyncpg://notifications@db.internal:5432/notifications",
)


def letter(url: str) -> Letter:
    rendered = Rendered("en", "subject", "text", "<p>html</p>", "sms")
    return Letter(7, "evt-42", "emp-1", url, rendered, b'{"id": "evt-42"}', "whsec-test")


@dataclass
class HostileDns:
    """Answers each lookup with the next of `answers` (the last one from then on)."""

    answers: list[list[str]]
    asked: list[str] = field(default_factory=list)

    async def resolve(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return self.answers[min(len(self.asked), len(self.answers)) - 1]


@dataclass
class Endpoint:
    """An endpoint noting the `Host` of every request; it closes each connection after its
    answer, so the next message opens (and resolves) anew."""

    calls: list[str] = field(default_factory=list)

    async def receive(self, request: Request) -> Response:
        self.calls.append(request.headers["host"])
        return Response(status_code=204, headers={"connection": "close"})

    def app(self) -> ASGIApp:
        return Starlette(routes=[Route("/hook", self.receive, methods=["POST"])])


@asynccontextmanager
async def listening_on(app: ASGIApp, host: str, port: int, **tls: str) -> AsyncIterator[None]:
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off", **tls)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # it failed to start: raise why
        await asyncio.sleep(0.01)
    try:
        yield
    finally:
        server.should_exit = True
        await task


@pytest.mark.parametrize(
    "address",
    [
        *("93.184.215.14", "8.8.8.8", "2606:4700::1111"),
        # IPv6 carrying a public IPv4 address: mapped, NAT64, 6to4
        *("::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"),
    ],
)
def test_a_public_address_is_admitted(address):
    assert public_only(ip_address(address))


@pytest.mark.parametrize(
    "address",
    [
        *("127.0.0.1", "127.1.2.3", "10.1.2.3", "172.16.0.1", "192.168.1.1", "0.0.0.0"),
        *("169.254.169.254", "100.64.0.1", "100.127.255.254"),  # cloud metadata, CGNAT
        *("224.0.0.1", "239.1.2.3", "240.0.0.1", "255.255.255.255"),  # multicast, reserved
        *("192.0.0.8", "192.0.2.1", "198.18.0.1", "198.51.100.7", "203.0.113.9"),
        *("::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1", "ff02::1", "ff0e::1"),
        *("2001:db8::1", "100::1"),
        # IPv6 carrying an internal IPv4 address, and the tunnels that hide one
        *("::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:100.64.0.1", "::ffff:169.254.169.254"),
        *("::127.0.0.1", "::8.8.8.8", "64:ff9b::7f00:1", "64:ff9b:1::808:808"),
        *("2002:7f00:1::1", "2002:a00:1::1", "2001:0:4136:e378:8000:63bf:3fff:fdd2"),
    ],
)
def test_an_internal_or_special_address_is_refused(address):
    assert not public_only(ip_address(address))


async def test_a_webhook_to_this_machine_is_refused_finally_without_connecting(webhook_receiver):
    receiver, served = webhook_receiver
    channel = WebhookChannel(clock=SystemClock())  # the real resolver
    for url in (served.url + "/hook", served.url.replace("127.0.0.1", "localhost") + "/hook"):
        with pytest.raises(ChannelError) as refused:
            await channel.send(letter(url))
        assert refused.value.permanent and str(refused.value) == REFUSED
    await channel.aclose()
    assert receiver.calls == [] and served.peers == []


@pytest.mark.parametrize(
    "answer",
    [
        ["93.184.215.14", "127.0.0.1"],  # one internal address among public ones is enough
        ["::ffff:127.0.0.1"],
        ["169.254.169.254"],
        ["100.64.0.1"],
        ["fd00::1"],
    ],
)
async def test_a_name_with_any_internal_address_is_refused_without_connecting(
    webhook_receiver, answer
):
    _, served = webhook_receiver
    dns = HostileDns([answer])
    channel = WebhookChannel(clock=SystemClock(), resolver=dns.resolve)
    url = served.url.replace("127.0.0.1", "hooks.example") + "/hook"
    with pytest.raises(ChannelError) as refused:
        await channel.send(letter(url))
    await channel.aclose()
    assert refused.value.permanent and str(refused.value) == REFUSED
    assert dns.asked == ["hooks.example"] and served.peers == []  # nothing reached the receiver


async def test_a_webhook_connects_to_the_address_it_checked_never_to_a_later_answer():
    # 127.0.0.2 stands in for a public address (nothing public listens here): the policy admits
    # it and nothing else that is not public. The name answers it first, 127.0.0.1 next.
    stand_in = ip_address("127.0.0.2")
    port = free_port()
    genuine, internal = Endpoint(), Endpoint()
    dns = HostileDns([[str(stand_in)], ["127.0.0.1"]])
    channel = WebhookChannel(
        clock=SystemClock(),
        admit=lambda address: address == stand_in or public_only(address),
        resolver=dns.resolve,
    )
    async with (
        listening_on(genuine.app(), str(stand_in), port),
        listening_on(internal.app(), "127.0.0.1", port),
    ):
        await channel.send(letter(f"http://hooks.example:{port}/hook"))
        with pytest.raises(ChannelError) as refused:  # a new connection: the name rebound
            await channel.send(letter(f"http://hooks.example:{port}/hook"))
        await channel.aclose()

    assert genuine.calls == [f"hooks.example:{port}"]  # the name's Host, at the checked address
    assert internal.calls == []
    assert refused.value.permanent and str(refused.value) == REFUSED
    assert dns.asked == ["hooks.example", "hooks.example"]  # once per connection, no more


def certificate_for(name: str, directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a server certificate it signed for `name`: their files (CA, certificate, key)."""
    now = datetime.now(UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook test CA")])

    def signed(
        subject: x509.Name, public_key: ec.EllipticCurvePublicKey
    ) -> x509.CertificateBuilder:
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(ca_name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )

    ca = (
        signed(ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        signed(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]), key.public_key())
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    files[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    files[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


async def test_tls_names_the_webhooks_host_while_connecting_to_its_checked_address(
    tmp_path, monkeypatch
):
    ca, cert, key = certificate_for("hooks.example", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the only CA the channel trusts
    port, endpoint = free_port(), Endpoint()
    dns = HostileDns([["127.0.0.1"]])
    channel = WebhookChannel(clock=SystemClock(), admit=any_address, resolver=dns.resolve)
    async with listening_on(
        endpoint.app(), "127.0.0.1", port, ssl_certfile=str(cert), ssl_keyfile=str(key)
    ):
        await channel.send(letter(f"https://hooks.example:{port}/hook"))
        # the same server under another name: its certificate does not name that one
        with pytest.raises(ChannelError) as mismatch:
            await channel.send(letter(f"https://other.example:{port}/hook"))
        await channel.aclose()

    assert endpoint.calls == [f"hooks.example:{port}"]
    assert not mismatch.value.permanent and "CERTIFICATE_VERIFY_FAILED" in str(mismatch.value)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_a_final_failure_and_is_not_followed(serve, status):
    followed: list[str] = []

    async def elsewhere(request: Request) -> Response:
        followed.append(request.method)
        return Response(status_code=204)

    async def hook(request: Request) -> Response:
        return RedirectResponse("/elsewhere", status_code=status)

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"]), Route("/elsewhere", elsewhere)])
    channel = WebhookChannel(clock=SystemClock(), admit=any_address)
    async with serve(app) as url:
        with pytest.raises(ChannelError) as redirected:
            await channel.send(letter(url + "/hook"))
        await channel.aclose()
    assert str(redirected.value) == f"webhook answered HTTP {status} (redirects are not followed)"
    assert redirected.value.permanent and followed == []


@pytest.mark.parametrize(("status", "permanent"), [(500, False), (503, False), (400, True)])
async def test_a_refusal_keeps_the_status_never_the_body(webhook, status, permanent):
    receiver, url = webhook
    receiver.answer, receiver.answer_body = status, b"db password=hunter2"
    channel = WebhookChannel(clock=SystemClock(), admit=any_address)
    with pytest.raises(ChannelError) as failed:
        await channel.send(letter(url))
    await channel.aclose()
    assert str(failed.value) == f"webhook answered HTTP {status}"
    assert failed.value.permanent is permanent and receiver.calls[0]["status"] == status


async def test_an_answer_that_is_not_http_is_not_quoted_in_the_error():
    async def not_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"db password=hunter2\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(not_http, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    channel = WebhookChannel(clock=SystemClock(), admit=any_address)
    async with server:
        with pytest.raises(ChannelError) as garbled:
            await channel.send(letter(f"http://127.0.0.1:{port}/hook"))
        await channel.aclose()
    assert str(garbled.value) == "webhook: RemoteProtocolError"
    assert not garbled.value.permanent


async def test_production_webhooks_go_over_https_only_and_elsewhere_http_too(webhook):
    receiver, url = webhook
    clock = SystemClock()
    production = channels_from(NotificationsSettings(**PRODUCTION), clock)
    development = channels_from(NotificationsSettings(webhook_allow_private_targets=True), clock)
    with pytest.raises(ChannelError) as plain:
        await production["webhook"].send(letter(url))
    assert plain.value.permanent and str(plain.value) == "webhook URL must be https"
    assert receiver.calls == []

    await development["webhook"].send(letter(url))
    assert [c["status"] for c in receiver.calls] == [204]
    for channel in (*production.values(), *development.values()):
        await channel.aclose()


async def test_a_url_no_retry_can_mend_is_refused_finally():
    channel = WebhookChannel(clock=SystemClock(), admit=any_address)
    for url in ("ftp://hooks.example/hook", "hooks.example/hook", "http:///hook"):
        with pytest.raises(ChannelError) as refused:
            await channel.send(letter(url))
        assert refused.value.permanent and str(refused.value) == "webhook URL must be https or http"
    await channel.aclose()


def test_private_webhook_targets_are_refused_in_production_and_off_by_default():
    with pytest.raises(ValueError, match="WEBHOOK_ALLOW_PRIVATE_TARGETS must be false"):
        NotificationsSettings(**PRODUCTION, webhook_allow_private_targets=True)
    assert not NotificationsSettings(**PRODUCTION).webhook_allow_private_targets
    assert not NotificationsSettings().webhook_allow_private_targets
    assert NotificationsSettings(webhook_allow_private_targets=True).webhook_allow_private_targets
