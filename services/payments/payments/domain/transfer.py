"""Money leaving the platform through a gateway, attempt by attempt, until it lands or gives up.

A transfer is claimed (its attempt counted and leased, so a crashed worker's claim expires and
another picks it up), then its outcome is applied. The gateway request is idempotent on the
transfer id, so re-sending after a crash or a timeout never moves the money twice.

A PSP that took the transfer and has not finished it (a bank transfer waiting for its PAYA cycle)
is asked again after a poll delay, with the same idempotency key; such a round is counted in
`polls`, not as a failed attempt, and never gives up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from shared.contract.base import Event

from payments.domain.ledger import Transaction
from payments.domain.retry import RetrySchedule


class TransferStatus(StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(kw_only=True)
class OutgoingTransfer:
    status: TransferStatus = TransferStatus.PENDING
    attempts: int = 0
    #: rounds at which the PSP answered that the transfer is under way (part of `attempts`)
    polls: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    reference: str | None = None
    #: the message it follows from (RequestPayout; the escrow event a refund answers), which
    #: its completed or failed event carries as causation and correlation
    caused_by: str | None = None
    correlation_id: str | None = None
    events: list[Event] = field(default_factory=list, compare=False, repr=False)

    @property
    def transfer_id(self) -> str:
        raise NotImplementedError

    def claim(self, now: datetime, lease: timedelta) -> None:
        """Count this attempt; nobody else tries it until the lease runs out."""
        self.attempts += 1
        self.next_attempt_at = now + lease

    def succeeded(self, reference: str) -> Transaction:
        self.status = TransferStatus.COMPLETED
        self.reference = reference
        self.next_attempt_at = None
        self.last_error = None
        self.events.append(self._completed_event())
        return self._completed_transaction()

    def in_progress(self, note: str, *, now: datetime, poll_delay: timedelta) -> None:
        """The PSP has the transfer and has not finished it: ask again after `poll_delay`."""
        self.polls += 1
        self.last_error = f"under way at the gateway: {note}"
        self.next_attempt_at = now + poll_delay

    def attempt_failed(
        self, error: str, *, definitive: bool, now: datetime, schedule: RetrySchedule
    ) -> Transaction | None:
        """Schedule the next attempt, or give up: the ledger transaction of giving up, if any."""
        self.last_error = error
        failed = self.attempts - self.polls
        if schedule.exhausted(failed) and self._may_give_up(definitive):
            self.status = TransferStatus.FAILED
            self.next_attempt_at = None
            self.events.append(self._failed_event())
            return self._failed_transaction()
        self.next_attempt_at = now + schedule.delay_after(failed)
        return None

    # --- what each kind of transfer decides ------------------------------------------------

    def _may_give_up(self, definitive: bool) -> bool:
        raise NotImplementedError

    def _completed_event(self) -> Event:
        raise NotImplementedError

    def _failed_event(self) -> Event:
        raise NotImplementedError

    def _completed_transaction(self) -> Transaction:
        raise NotImplementedError

    def _failed_transaction(self) -> Transaction | None:
        raise NotImplementedError
