"""One message on one channel to one person, from pending to its final status.

pending -> sent; pending -> pending (a failed attempt, due again after a backoff);
pending -> failed (attempts used up, or a refusal that no retry will change);
undeliverable from the start (no contact details, or no address for the channel).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"


FINAL = frozenset({Status.SENT, Status.FAILED, Status.UNDELIVERABLE})
MAX_ERROR_LENGTH = 1000


class AlreadyFinal(Exception):
    """A delivery that reached its final status does not move again."""


@dataclass(frozen=True)
class RetrySchedule:
    """Exponential backoff: `initial`, then doubled per failed attempt, never above `ceiling`."""

    max_attempts: int
    initial: timedelta
    ceiling: timedelta

    def delay_after(self, attempts: int) -> timedelta:
        return min(self.initial * 2 ** max(attempts - 1, 0), self.ceiling)


@dataclass
class Delivery:
    id: int
    channel: str
    status: Status
    attempts: int
    created_at: datetime
    due_at: datetime
    last_error: str | None = None
    sent_at: datetime | None = None

    def check_pending(self) -> None:
        if self.status in FINAL:
            raise AlreadyFinal(f"delivery {self.id} is already {self.status}")

    def succeeded(self, now: datetime) -> None:
        self.check_pending()
        self.attempts += 1
        self.status, self.sent_at = Status.SENT, now

    def attempt_failed(
        self, error: str, now: datetime, schedule: RetrySchedule, *, permanent: bool = False
    ) -> bool:
        """Record a failed attempt; returns whether another attempt is scheduled."""
        self.check_pending()
        self.attempts += 1
        self.last_error = error[:MAX_ERROR_LENGTH]
        if permanent or self.attempts >= schedule.max_attempts:
            self.status = Status.FAILED
            return False
        self.due_at = now + schedule.delay_after(self.attempts)
        return True

    @property
    def latency(self) -> timedelta | None:
        return self.sent_at - self.created_at if self.sent_at else None
