"""What each lifecycle is meant to do and where it must end, decided before anything is sent.

Pure: a plan names its ids, its amounts and the final figures the read APIs must then show.
Only flows DESIGN.md §3–§5 allows and the end-to-end tests play are planned; a funded escrow
cannot be cancelled (§3: money leaves an escrow only by release, the contractor's refund or a
verdict), so "funded then refunded" is the contractor's refund of all of it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    #: (a) agreed escrow paid, delivered, released in full; the contractor paid out
    RELEASED_PAID_OUT = "released-paid-out"
    #: (b) two partial releases (a part, then the rest)
    PARTIAL_RELEASES = "partial-releases"
    #: (c) cancelled before any payment
    CANCELLED = "cancelled"
    #: (c') funded, then refunded in full by the contractor
    REFUNDED = "refunded"
    #: (d) disputed, escalated, split by the arbiter's verdict
    VERDICT = "verdict"
    #: (e) disputed, withdrawn by its opener, then released
    WITHDRAWN_RELEASED = "withdrawn-released"
    #: (f) paid at the gateway after the escrow was cancelled: refunded in full
    PAID_AFTER_CANCEL = "paid-after-cancel"
    #: (g) the contractor's request for a secure payment, declined by the employer
    DECLINED = "declined"


CURRENCY = "IRR"
#: the escrow service's fee for IRR as shipped (its `ESCROW_FEES` default)
FEE_BPS = 1000
MIN_FEE = 10_000


def fee(gross: int) -> int:
    """DESIGN.md §2: max(min_fee, floor(gross * bps / 10000)), never more than the gross."""
    return min(gross, max(MIN_FEE, gross * FEE_BPS // 10_000))


@dataclass(frozen=True)
class Plan:
    kind: Kind
    name: str
    amount: int
    #: (b) the first release; (d) the contractor's share of the verdict
    part: int = 0

    @property
    def employer(self) -> str:
        return f"{self.name}-emp"

    @property
    def contractor(self) -> str:
        return f"{self.name}-con"

    @property
    def contract_id(self) -> str:
        return f"{self.name}-c"

    @property
    def escrow_id(self) -> str:
        return f"{self.name}-e"

    @property
    def payment_id(self) -> str:
        return f"{self.name}-p"

    @property
    def dispute_id(self) -> str:
        return f"{self.name}-d"

    @property
    def payout_id(self) -> str:
        return f"{self.name}-out"

    # --- where it must end ------------------------------------------------------------------

    @property
    def state(self) -> str:
        return {
            Kind.CANCELLED: "cancelled",
            Kind.DECLINED: "declined",
            Kind.PAID_AFTER_CANCEL: "cancelled",
            Kind.REFUNDED: "refunded",
            Kind.VERDICT: "settled",
        }.get(self.kind, "released")

    @property
    def released(self) -> int:
        """The escrow's `released_amount` at the end (a verdict's share is not a release)."""
        if self.kind in (Kind.RELEASED_PAID_OUT, Kind.PARTIAL_RELEASES, Kind.WITHDRAWN_RELEASED):
            return self.amount
        return 0

    @property
    def fees(self) -> int:
        if self.kind is Kind.PARTIAL_RELEASES:
            return fee(self.part) + fee(self.amount - self.part)
        if self.kind is Kind.VERDICT:
            return fee(self.part)
        return fee(self.amount) if self.released else 0

    @property
    def contractor_net(self) -> int:
        """What reached the contractor's wallet (before any payout)."""
        earned = self.part if self.kind is Kind.VERDICT else self.released
        return earned - self.fees

    @property
    def wallet(self) -> int:
        """The contractor's wallet at the end: the net, or 0 once paid out."""
        return 0 if self.kind is Kind.RELEASED_PAID_OUT else self.contractor_net

    @property
    def paid_out(self) -> int:
        return self.contractor_net if self.kind is Kind.RELEASED_PAID_OUT else 0

    @property
    def refunded_to_employer(self) -> int:
        """What the payments service refunded the employer, completed."""
        if self.kind in (Kind.REFUNDED, Kind.PAID_AFTER_CANCEL):
            return self.amount
        if self.kind is Kind.VERDICT:
            return self.amount - self.part
        return 0

    @property
    def dispute_state(self) -> str | None:
        return {Kind.VERDICT: "closed", Kind.WITHDRAWN_RELEASED: "withdrawn"}.get(self.kind)

    def as_json(self) -> dict[str, object]:
        return {
            "kind": str(self.kind),
            "name": self.name,
            "amount": self.amount,
            "part": self.part,
            "state": self.state,
            "released": self.released,
            "fees": self.fees,
            "wallet": self.wallet,
            "paid_out": self.paid_out,
            "refunded_to_employer": self.refunded_to_employer,
        }


def plans(rng: random.Random, count: int, tag: str) -> list[Plan]:
    """`count` plans, every kind in turn (each as often as the others), amounts drawn."""
    kinds = list(Kind)
    found = []
    for n in range(count):
        kind = kinds[n % len(kinds)]
        amount = rng.randrange(200_000, 5_000_000, 1_000)
        part = rng.randrange(50_000, amount - 50_000, 1_000)
        needs_part = kind in (Kind.PARTIAL_RELEASES, Kind.VERDICT)
        found.append(Plan(kind, f"{tag}-{n}", amount, part if needs_part else 0))
    rng.shuffle(found)
    return found
