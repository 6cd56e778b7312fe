"""Webhooks: the CloudEvent, POSTed to the user's URL and signed with the user's secret.

Headers: `x-escrow-timestamp` (Unix seconds) and `x-escrow-signature: sha256=<hex HMAC-SHA256
of timestamp + "." + body>` (see `domain.signing`), `x-escrow-delivery` (one id per delivery, for
the receiver's own deduplication). A 2xx answer is success; 408, 429 and 5xx are retried; any
other 4xx is the receiver refusing the message, which a retry does not change, and so is a 3xx:
redirects are not followed.

The URL is the user's, so it must not reach what only we can reach: its host is resolved when a
connection opens and refused, finally, if any address is not public (`public_only`; see
`http.CheckedNetwork` for the rebinding it withstands); production takes only https. An error
keeps the answer's status, never its body: a receiver's words are not ours to store and show.
"""

from __future__ import annotations

import logging
from ipaddress import IPv4Address, IPv6Address, ip_network

import httpx
from shared.clock import Clock
from shared.contract.envelope import CONTENT_TYPE

from notifications.adapters.channels import ChannelError, Letter
from notifications.adapters.channels.http import (
    AddressPolicy,
    IPAddress,
    Resolver,
    TargetRefused,
    channel_client,
    system_resolver,
)
from notifications.domain.signing import signed_headers

log = logging.getLogger(__name__)

RETRIED_4XX = frozenset({408, 425, 429})

#: special-purpose blocks (IANA's registries) named even though `is_global` covers most of them:
#: Python 3.11 counts multicast, 192.0.0.0/24, fec0::/10 and IPv4-compatible ::a.b.c.d as global
NOT_PUBLIC = tuple(
    ip_network(block)
    for block in (
        *("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16"),
        *("172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16"),
        *("198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4"),
        # ::/8 holds the unspecified, loopback, IPv4-compatible and local NAT64 addresses;
        # 2001::/23 holds Teredo
        *("::/8", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7", "fe80::/10"),
        *("fec0::/10", "ff00::/8"),
    )
)
NAT64 = ip_network("64:ff9b::/96")


def public_only(address: IPAddress) -> bool:
    """Whether `address` is on the public internet. An IPv6 address that carries an IPv4 one
    (IPv4-mapped, the NAT64 prefix, 6to4) is judged by the IPv4 address it reaches."""
    if isinstance(address, IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if address in NAT64:
            embedded = IPv4Address(int(address) & 0xFFFF_FFFF)
        if embedded is not None:
            return public_only(embedded)
    return address.is_global and not any(address in block for block in NOT_PUBLIC)


def any_address(address: IPAddress) -> bool:
    """Every address, loopback and private ones too (WEBHOOK_ALLOW_PRIVATE_TARGETS)."""
    return True


class WebhookChannel:
    def __init__(
        self,
        *,
        clock: Clock,
        timeout_s: float = 10.0,
        https_only: bool = False,
        admit: AddressPolicy = public_only,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.clock, self.https_only = clock, https_only
        self.http = channel_client(timeout_s, admit=admit, resolver=resolver)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(self, letter: Letter) -> None:
        if not letter.secret:
            raise ChannelError("no webhook secret: refusing to send unsigned", permanent=True)
        url = self.target(letter.address)
        body = letter.cloud_event
        headers = {
            "content-type": CONTENT_TYPE,
            "x-escrow-delivery": str(letter.delivery_id),
            **signed_headers(letter.secret, int(self.clock.now().timestamp()), body),
        }
        try:
            answer = await self.http.post(url, content=body, headers=headers)
        except TargetRefused as exc:
            log.warning("webhook of delivery %s refused: %s", letter.delivery_id, exc)
            raise ChannelError(
                "webhook target resolves to a non-public address", permanent=True
            ) from exc
        except httpx.HTTPError as exc:
            raise ChannelError(_failure(exc)) from exc
        if 300 <= answer.status_code < 400:
            raise ChannelError(
                f"webhook answered HTTP {answer.status_code} (redirects are not followed)",
                permanent=True,
            )
        if not answer.is_success:
            raise ChannelError(
                f"webhook answered HTTP {answer.status_code}",
                permanent=answer.is_client_error and answer.status_code not in RETRIED_4XX,
            )

    def target(self, address: str) -> httpx.URL:
        """The URL to POST to; one no retry makes usable is refused finally."""
        schemes = ("https",) if self.https_only else ("https", "http")
        try:
            url = httpx.URL(address)
        except httpx.InvalidURL:
            raise ChannelError("webhook URL is not a valid URL", permanent=True) from None
        if url.scheme not in schemes or not url.host:
            raise ChannelError(f"webhook URL must be {' or '.join(schemes)}", permanent=True)
        return url


def _failure(exc: httpx.HTTPError) -> str:
    """A network failure says what the system said; a protocol error only its kind, since its
    text quotes the receiver's bytes (`illegal status line: b'…'`)."""
    said = isinstance(exc, httpx.NetworkError | httpx.TimeoutException)
    return f"webhook: {type(exc).__name__}" + (f": {exc}" if said else "")
