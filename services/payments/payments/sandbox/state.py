"""What the sandbox gateway remembers (in memory: it is a development tool) and how it may be
told to misbehave."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

from payments.domain.iban import is_valid


class Declined(Exception):
    """The sandbox answers that nothing was paid (HTTP 422)."""


class Unknown(Exception):
    """No such payment at this sandbox (HTTP 404)."""


class Outage(Exception):
    """The sandbox pretends to be down (HTTP 503): the caller cannot know what happened."""


@dataclass
class Behaviour:
    """Misbehaviour on demand, set through `POST /control`."""

    fail_payouts: int = 0  # the next N payout attempts fail
    fail_refunds: int = 0  # the next N refund attempts fail
    always_fail_payouts: bool = False
    always_fail_refunds: bool = False
    failure: Literal["decline", "outage"] = "decline"
    callback_delay_ms: int = 0
    callback_copies: int = 1  # more than one duplicates every callback
    forge_callbacks: bool = False  # sign callbacks with a key the merchant does not have
    callback_amount: int | None = None  # callbacks claim this amount instead of the paid one
    send_callbacks: bool = True

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown behaviour {sorted(unknown)}")
        for name, value in changes.items():
            setattr(self, name, value)


@dataclass
class SandboxPayment:
    token: str
    order_id: str
    amount: int
    currency: str
    description: str
    callback_url: str
    status: Literal["pending", "paid", "failed"] = "pending"
    paid_amount: int | None = None
    reference: str | None = None
    refunded: int = 0
    #: when the payment was opened (ISO 8601, UTC): what `settled` windows are over
    created_at: str = field(default_factory=lambda: _now().isoformat())

    def refundable(self, amount: int) -> bool:
        return self.status == "paid" and self.refunded + amount <= (self.paid_amount or 0)

    def verification(self) -> dict[str, Any]:
        return {
            "token": self.token,
            "order_id": self.order_id,
            "status": self.status,
            "amount": self.paid_amount if self.paid_amount is not None else self.amount,
            "currency": self.currency,
            "reference": self.reference,
        }


@dataclass
class TransferRecord:
    transfer_id: str
    amount: int
    currency: str
    destination: str
    attempts: int = 0
    status: Literal["pending", "completed"] = "pending"
    reference: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Sandbox:
    payments: dict[str, SandboxPayment] = field(default_factory=dict)
    payouts: dict[str, TransferRecord] = field(default_factory=dict)
    refunds: dict[str, TransferRecord] = field(default_factory=dict)
    behaviour: Behaviour = field(default_factory=Behaviour)
    #: it remembers nothing from before this: a listing of an earlier window is incomplete
    started_at: datetime = field(default_factory=_now)

    def create_payment(self, body: dict[str, Any]) -> SandboxPayment:
        amount = body.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
            raise Declined("amount must be a positive integer")
        payment = SandboxPayment(
            token=f"sbx_{uuid.uuid4().hex}",
            order_id=str(body["order_id"]),
            amount=amount,
            currency=str(body["currency"]),
            description=str(body.get("description", "")),
            callback_url=str(body["callback_url"]),
        )
        self.payments[payment.token] = payment
        return payment

    def find(self, token: str) -> SandboxPayment:
        if token not in self.payments:
            raise Unknown(f"no payment {token}")
        return self.payments[token]

    def pay(self, token: str, outcome: str, amount: int | None = None) -> SandboxPayment:
        payment = self.find(token)
        if payment.status != "pending":
            raise Declined(f"payment {token} is already {payment.status}")
        if outcome == "paid":
            payment.status = "paid"
            payment.paid_amount = payment.amount if amount is None else amount
            payment.reference = f"sbx-ref-{uuid.uuid4().hex[:12]}"
        else:
            payment.status = "failed"
        return payment

    def settled(self, since: datetime, until: datetime, limit: int) -> dict[str, Any]:
        """The payments opened from `since` to before `until` and paid, oldest first, at most
        `limit`; complete unless the window starts before this sandbox did or `limit` cut it."""
        paid = sorted(
            (
                p
                for p in self.payments.values()
                if p.status == "paid" and since <= datetime.fromisoformat(p.created_at) < until
            ),
            key=lambda p: p.created_at,
        )
        return {
            "complete": since >= self.started_at and len(paid) <= limit,
            "payments": [
                {
                    "token": p.token,
                    "order_id": p.order_id,
                    "amount": p.paid_amount,
                    "currency": p.currency,
                    "created_at": p.created_at,
                }
                for p in paid[:limit]
            ],
        }

    def payout(self, body: dict[str, Any]) -> TransferRecord:
        if not is_valid(str(body.get("iban", ""))):
            raise Declined("the IBAN is not valid")
        record = self._transfer(self.payouts, str(body["payout_id"]), body, "iban")
        self._attempt(record, "payout")
        return record

    def refund(self, body: dict[str, Any]) -> TransferRecord:
        record = self._transfer(self.refunds, str(body["refund_id"]), body, "token")
        paid = self.payments.get(record.destination)
        # Only a payment this sandbox took is bounded; any other stands for a bank transfer.
        if record.status == "pending" and paid is not None and not paid.refundable(record.amount):
            raise Declined("more than the payment's unrefunded amount")
        if self._attempt(record, "refund") and paid is not None:
            paid.refunded += record.amount
        return record

    def _transfer(
        self, book: dict[str, TransferRecord], transfer_id: str, body: dict[str, Any], dest: str
    ) -> TransferRecord:
        record = book.get(transfer_id)
        asked = (int(body["amount"]), str(body["currency"]), str(body[dest]))
        if record is None:
            record = TransferRecord(transfer_id, *asked)
            book[transfer_id] = record
        elif (record.amount, record.currency, record.destination) != asked:
            raise Declined(f"{transfer_id} was already used for another transfer")
        return record

    def _attempt(self, record: TransferRecord, kind: str) -> bool:
        """Try to move the money; True only the one time it actually moves."""
        record.attempts += 1
        if record.status == "completed":
            return False  # idempotent: the same id never moves money twice
        self._maybe_fail(kind)
        record.status = "completed"
        record.reference = f"sbx-{kind}-{uuid.uuid4().hex[:12]}"
        return True

    def _maybe_fail(self, kind: str) -> None:
        b = self.behaviour
        budget = f"fail_{kind}s"
        if getattr(b, f"always_fail_{kind}s") or getattr(b, budget) > 0:
            setattr(b, budget, max(getattr(b, budget) - 1, 0))
            if b.failure == "outage":
                raise Outage(f"sandbox {kind} service unavailable")
            raise Declined(f"sandbox declined the {kind}")

    def snapshot(self) -> dict[str, Any]:
        return {
            "behaviour": asdict(self.behaviour),
            "payments": {k: asdict(v) for k, v in self.payments.items()},
            "payouts": {k: asdict(v) for k, v in self.payouts.items()},
            "refunds": {k: asdict(v) for k, v in self.refunds.items()},
        }
