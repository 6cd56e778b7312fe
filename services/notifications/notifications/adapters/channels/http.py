"""One way for the HTTP channels (webhooks, SMS) to hold their client.

Each channel keeps one `channel_client` for its whole life: connections to a receiver are kept
alive and the TLS context is built once, not on every message. The channel's `aclose` closes it
when the service stops. No client follows redirects.

A client given an `admit` policy connects only where the policy allows (`CheckedNetwork`): the
webhook channel's, since its URLs come from users.
"""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from http.cookiejar import CookieJar, DefaultCookiePolicy
from ipaddress import IPv4Address, IPv6Address, ip_address

import anyio
import httpcore
import httpx

#: an idle connection is dropped before the server would close it (uvicorn closes after 5 s, most
#: servers later): a request on a connection the server is closing fails without an answer
KEEPALIVE_S = 4.0
#: bounded, so slow receivers make messages wait (then fail and be retried) instead of piling up
#: sockets; above the delivery batch, which is sent concurrently
LIMITS = httpx.Limits(
    max_connections=32, max_keepalive_connections=16, keepalive_expiry=KEEPALIVE_S
)

IPAddress = IPv4Address | IPv6Address
#: which resolved addresses a client may connect to
AddressPolicy = Callable[[IPAddress], bool]
#: `(host, port)` to the IP addresses the host has (as text)
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]


class TargetRefused(Exception):
    """The host resolved to addresses the client's policy refuses; no connection was opened."""

    def __init__(self, host: str, refused: Sequence[IPAddress]) -> None:
        super().__init__(f"{host} resolves to refused addresses {[str(a) for a in refused]}")
        self.host, self.refused = host, refused


async def system_resolver(host: str, port: int) -> list[str]:
    """The host's addresses from the system's resolver (an IP address stays itself)."""
    found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in found))


class CheckedNetwork(httpcore.AsyncNetworkBackend):
    """Opens each connection to an address it checked, against DNS rebinding.

    The host is resolved once per connection and refused if any of its addresses is: a name
    answering both a public and an internal address is not tried at all. The socket is then
    opened to a checked address itself (in the resolver's order, each with the connect timeout),
    never to what a second lookup might answer. The request keeps the host: httpcore sends its
    `Host` header and takes TLS's server name (SNI, the certificate's check) from the URL, not
    from the address connected to, and pools connections by host.
    """

    def __init__(self, admit: AddressPolicy, resolver: Resolver = system_resolver) -> None:
        self.admit, self.resolve = admit, resolver
        self.network = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._addresses(host, port, timeout)
        refused = [address for address in addresses if not self.admit(address)]
        if refused or not addresses:
            raise TargetRefused(host, refused)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return await self.network.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # there was at least one address
        raise failure

    async def _addresses(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        try:
            with anyio.fail_after(timeout):
                return [ip_address(address) for address in await self.resolve(host, port)]
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
        except (OSError, UnicodeError) as exc:  # no such name, no resolver now
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no Unix sockets: only checked TCP addresses")

    async def sleep(self, seconds: float) -> None:
        await self.network.sleep(seconds)


class _CheckedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (no proxy), its connections opened by `network`. httpx 0.28 takes
    no network backend (encode/httpx#3749), so the pool is built again with one."""

    def __init__(self, network: httpcore.AsyncNetworkBackend) -> None:
        super().__init__(limits=LIMITS)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=LIMITS.max_connections,
            max_keepalive_connections=LIMITS.max_keepalive_connections,
            keepalive_expiry=LIMITS.keepalive_expiry,
            network_backend=network,
        )


def channel_client(
    timeout_s: float, *, admit: AddressPolicy | None = None, resolver: Resolver = system_resolver
) -> httpx.AsyncClient:
    """A client for one channel; `timeout_s` bounds connecting (resolving included), each read
    and write, and the wait for a free connection. With `admit`, connections go only to the
    addresses it admits, directly (no proxy from the environment)."""
    checked = None if admit is None else _CheckedTransport(CheckedNetwork(admit, resolver))
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_s),
        limits=LIMITS,
        transport=checked,
        follow_redirects=False,  # a redirect could lead anywhere: it is an answer, not followed
        # Messages stay independent of each other, as with a client per message: no cookies
        # kept, so one receiver's answer never changes what the next request carries.
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
    )
