"""Reconciliation against the gateways: what each gateway says it took, beside what the suite
recorded. Pure: the service layer reads both sides and hands them here.

Every payment a gateway lists as settled must be a payment the suite received, for the same
amount in the same currency; otherwise it is `unrecorded` (unknown to the suite, or still
started or failed there: a callback lost while payments was down) or `amount_differs`. When the
listing is complete, every payment the suite received in the window must be in it; otherwise it
is `not_settled`. An incomplete listing (Zarinpal's unVerified) can only name the first kind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from payments.domain.gateway import Settled, Settlements

DifferenceKind = Literal["unrecorded", "amount_differs", "not_settled"]
RECEIVED = "received"


@dataclass(frozen=True)
class Recorded:
    """A payment as the suite recorded it, by its reference at the gateway."""

    payment_id: str
    reference: str
    status: str
    amount: int
    currency: str


@dataclass(frozen=True)
class Difference:
    kind: DifferenceKind
    reference: str
    #: None when the suite has no payment with this reference
    payment_id: str | None
    #: the suite's side: status, amount, currency (None when unknown to it)
    recorded: Recorded | None
    #: the gateway's side (None when the gateway did not list it)
    settled: Settled | None


@dataclass(frozen=True)
class Totals:
    count: int = 0
    amount: int = 0

    def plus(self, amount: int) -> Totals:
        return Totals(self.count + 1, self.amount + amount)


@dataclass(frozen=True)
class Comparison:
    #: per currency, what the gateway listed
    settled: dict[str, Totals] = field(default_factory=dict)
    #: per currency, what the gateway listed and the suite received for the same amount
    matched: dict[str, Totals] = field(default_factory=dict)
    differences: tuple[Difference, ...] = ()


def compare(recorded: Iterable[Recorded], listing: Settlements) -> Comparison:
    """The differences between the suite's payments and one gateway's listing.

    `recorded` holds the suite's payments with a reference the listing names (whatever their
    status and age) and, for a complete listing, those it received in the listing's window: a
    received payment here that the listing lacks is `not_settled` when the listing is complete.
    A reference listed twice counts once (the last listed).
    """
    ours = {r.reference: r for r in recorded}
    theirs = {s.reference: s for s in listing.items}
    settled: dict[str, Totals] = defaultdict(Totals)
    matched: dict[str, Totals] = defaultdict(Totals)
    differences: list[Difference] = []
    for reference, item in sorted(theirs.items()):
        settled[item.currency] = settled[item.currency].plus(item.amount)
        mine = ours.get(reference)
        if mine is None or mine.status != RECEIVED:
            differences.append(_difference("unrecorded", reference, mine, item))
        elif (mine.amount, mine.currency) != (item.amount, item.currency):
            differences.append(_difference("amount_differs", reference, mine, item))
        else:
            matched[item.currency] = matched[item.currency].plus(item.amount)
    if listing.complete and not listing.truncated:
        for reference, mine in sorted(ours.items()):
            if mine.status == RECEIVED and reference not in theirs:
                differences.append(_difference("not_settled", reference, mine, None))
    return Comparison(dict(settled), dict(matched), tuple(differences))


def _difference(
    kind: DifferenceKind, reference: str, mine: Recorded | None, item: Settled | None
) -> Difference:
    return Difference(kind, reference, mine.payment_id if mine else None, mine, item)
