"""The escrow's clocks: payment expiry, release reminders and the optional auto-release.

The domain never reads a clock. The service asks `escrow.timers(policy)` what is due and when,
schedules it, and fires it with the current time; firing a timer that is no longer applicable
(paid, released, disputed, not yet due, fired twice) is refused with InvalidState and changes
nothing, so a late or repeated timer is harmless.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from .states import EscrowState


class TimerKind(StrEnum):
    PAYMENT_EXPIRY = "payment_expiry"
    RELEASE_REMINDER = "release_reminder"
    AUTO_RELEASE = "auto_release"


@dataclass(frozen=True)
class Timer:
    kind: TimerKind
    due_at: datetime


@dataclass(frozen=True)
class TimerPolicy:
    """Deployment settings; auto-release is off unless `auto_release_after` is set."""

    payment_expiry: timedelta = timedelta(days=7)
    release_reminder_every: timedelta = timedelta(days=3)
    auto_release_after: timedelta | None = None

    def __post_init__(self) -> None:
        # A zero or negative period would fire at once, or forever: refuse the setting.
        periods = [self.payment_expiry, self.release_reminder_every, self.auto_release_after]
        if any(period is not None and period <= timedelta(0) for period in periods):
            raise ValueError("timer periods must be positive")


@dataclass(frozen=True)
class Clocks:
    """The escrow's facts that timers are measured from."""

    state: EscrowState
    payment_due_at: datetime | None
    delivered_at: datetime | None
    last_reminded_at: datetime | None

    def reminder_due_at(self, policy: TimerPolicy) -> datetime | None:
        if self.state != EscrowState.DELIVERED or self.delivered_at is None:
            return None
        since = max(self.delivered_at, self.last_reminded_at or self.delivered_at)
        return since + policy.release_reminder_every

    def auto_release_due_at(self, policy: TimerPolicy) -> datetime | None:
        if self.state != EscrowState.DELIVERED or self.delivered_at is None:
            return None
        if policy.auto_release_after is None:
            return None
        return self.delivered_at + policy.auto_release_after

    def payment_expires_at(self) -> datetime | None:
        if self.state != EscrowState.AWAITING_PAYMENT:
            return None
        return self.payment_due_at

    def due(self, policy: TimerPolicy) -> list[Timer]:
        """Every timer that applies now, with the moment it should fire."""
        candidates = (
            (TimerKind.PAYMENT_EXPIRY, self.payment_expires_at()),
            (TimerKind.RELEASE_REMINDER, self.reminder_due_at(policy)),
            (TimerKind.AUTO_RELEASE, self.auto_release_due_at(policy)),
        )
        return [Timer(kind, due_at) for kind, due_at in candidates if due_at is not None]


def check_aware(now: datetime) -> datetime:
    # A naive datetime compared with an aware one raises deep inside a guard: catch it at the door.
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now
