"""The gateway port: what the payments service asks of any payment gateway (PSP).

Implementations translate to one PSP's HTTP API and raise `GatewayError`s (domain.gateway) with
`definitive` telling whether money certainly did not move. Every call is timed and counted by
`Instrumented`, so each adapter only speaks its PSP's language.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from payments import metrics
from payments.domain.gateway import (
    CallbackClaim,
    GatewaySession,
    PaymentRequest,
    Transfer,
    Verification,
)

R = TypeVar("R")


@dataclass(frozen=True)
class IncomingCallback:
    """A callback request as it reached our HTTP route, before anything is believed."""

    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes = b""


class Gateway(Protocol):
    name: str

    async def open_payment(self, request: PaymentRequest) -> GatewaySession:
        """Open a payment session; the payer is sent to its redirect URL."""
        ...

    def read_callback(self, callback: IncomingCallback) -> CallbackClaim:
        """Parse (and, where the PSP signs, authenticate) a callback; raises CallbackRejected."""
        ...

    async def verify(self, token: str, amount: int, currency: str) -> Verification:
        """Ask the gateway itself what happened to a payment session."""
        ...

    async def payout(self, transfer: Transfer) -> str:
        """Send money to an IBAN; the gateway's reference. Idempotent on transfer_id."""
        ...

    async def refund(self, transfer: Transfer) -> str:
        """Refund a payment (destination: its session token). Idempotent on transfer_id."""
        ...

    async def aclose(self) -> None:
        """Close the adapter's connections (the service is stopping); again is harmless."""
        ...


class Instrumented:
    """A gateway whose every remote call is timed and whose errors are counted."""

    def __init__(self, inner: Gateway) -> None:
        self.inner = inner
        self.name = inner.name

    async def _timed(self, operation: str, call: Callable[[], Awaitable[R]]) -> R:
        with metrics.gateway_call(self.name, operation):
            return await call()

    async def open_payment(self, request: PaymentRequest) -> GatewaySession:
        return await self._timed("open_payment", lambda: self.inner.open_payment(request))

    def read_callback(self, callback: IncomingCallback) -> CallbackClaim:
        return self.inner.read_callback(callback)

    async def verify(self, token: str, amount: int, currency: str) -> Verification:
        return await self._timed("verify", lambda: self.inner.verify(token, amount, currency))

    async def payout(self, transfer: Transfer) -> str:
        return await self._timed("payout", lambda: self.inner.payout(transfer))

    async def refund(self, transfer: Transfer) -> str:
        return await self._timed("refund", lambda: self.inner.refund(transfer))

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Gateways:
    """The gateway new payments open at, the one money leaves through, and all by name (a
    payment's callback and verification go to the gateway it was opened at)."""

    payments: Gateway
    transfers: Gateway
    by_name: dict[str, Gateway] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for gateway in (self.payments, self.transfers):
            self.by_name.setdefault(gateway.name, gateway)

    async def aclose(self) -> None:
        # One gateway may both open payments and carry transfers: closing it twice is harmless.
        for gateway in (self.payments, self.transfers):
            await gateway.aclose()
