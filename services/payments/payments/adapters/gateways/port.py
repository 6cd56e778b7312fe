"""The gateway port: what the payments service asks of any payment gateway (PSP).

Implementations translate to one PSP's HTTP API and raise `GatewayError`s (domain.gateway) with
`definitive` telling whether money certainly did not move. Every call is timed and counted by
`Instrumented`, so each adapter only speaks its PSP's language.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol, TypeVar

from payments import metrics
from payments.domain.gateway import (
    CallbackClaim,
    GatewaySession,
    PaymentRequest,
    Settlements,
    Transfer,
    Verification,
)

R = TypeVar("R")

#: the longest window `settled` is asked about
SETTLED_MAX_WINDOW: Final = timedelta(days=31)
#: the most payments one `settled` listing holds; a listing stopped there is `truncated`
SETTLED_MAX_ITEMS: Final = 5_000
#: how long one gateway's whole `settled` listing may take, every page included (each call is
#: also bounded by `GATEWAY_TIMEOUT_S`)
SETTLED_TIMEOUT_S: Final = 60.0


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
        """Ask the gateway itself what happened to a payment session (after its callback)."""
        ...

    async def inquire(self, token: str, amount: int, currency: str) -> Verification:
        """Ask about a session whose callback never came (Zarinpal's inquiry, then verify when
        paid; Stripe's retrieve): `pending` while the payer may still pay, `failed` only when
        the gateway says the session can no longer be paid."""
        ...

    async def unverified(self) -> Sequence[str]:
        """Tokens of sessions the gateway holds as paid and not yet verified (Zarinpal's
        unVerified); empty where the gateway has no such list."""
        ...

    async def settled(self, since: datetime, until: datetime) -> Settlements:
        """What the gateway says it took for payments opened from `since` to before `until` (at
        most `SETTLED_MAX_WINDOW` apart), at most `SETTLED_MAX_ITEMS` of them: complete where
        the gateway lists everything it took (the sandbox, Stripe), incomplete where it lists
        only part (Zarinpal's unVerified), empty and complete where it takes no payments."""
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

    async def inquire(self, token: str, amount: int, currency: str) -> Verification:
        return await self._timed("inquire", lambda: self.inner.inquire(token, amount, currency))

    async def unverified(self) -> Sequence[str]:
        return await self._timed("unverified", self.inner.unverified)

    async def settled(self, since: datetime, until: datetime) -> Settlements:
        return await self._timed("settled", lambda: self.inner.settled(since, until))

    async def payout(self, transfer: Transfer) -> str:
        return await self._timed("payout", lambda: self.inner.payout(transfer))

    async def refund(self, transfer: Transfer) -> str:
        return await self._timed("refund", lambda: self.inner.refund(transfer))

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass
class Gateways:
    """Every gateway of the deployment by name, and which one each currency uses.

    A new payment opens at its currency's payment gateway and a payout leaves through its
    currency's payout gateway; a payment's callback, verification, inquiry and refunds go to the
    gateway it was opened at, whatever the routes say today.
    """

    by_name: dict[str, Gateway]
    #: currency → the gateway new payments of that currency open at
    payment_routes: dict[str, str]
    #: currency → the gateway payouts of that currency leave through
    payout_routes: dict[str, str]

    def __post_init__(self) -> None:
        for routes in (self.payment_routes, self.payout_routes):
            missing = set(routes.values()) - set(self.by_name)
            if missing:
                raise ValueError(f"routes name gateways that are not built: {sorted(missing)}")

    @classmethod
    def single(cls, gateway: Gateway, currencies: Sequence[str] = ("IRR", "USD")) -> Gateways:
        """One gateway for everything (the sandbox in development; tests)."""
        return cls(
            {gateway.name: gateway},
            {c: gateway.name for c in currencies},
            {c: gateway.name for c in currencies},
        )

    def for_payment(self, currency: str) -> Gateway | None:
        name = self.payment_routes.get(currency)
        return self.by_name[name] if name else None

    def for_payout(self, currency: str) -> Gateway | None:
        name = self.payout_routes.get(currency)
        return self.by_name[name] if name else None

    async def aclose(self) -> None:
        for gateway in self.by_name.values():
            await gateway.aclose()
