"""What the system does when an escrow's clock runs out: payment expiry, release reminders and the
optional auto-release (DESIGN §3).

Each timer fires only while it applies and once it is due (see timers.py); otherwise it is
refused with InvalidState and changes nothing, so a late, early or repeated timer is harmless.
"""

from collections.abc import Mapping
from datetime import datetime

from .errors import InvalidState
from .events import EscrowCancelled, ReleaseReminderDue
from .holding import EscrowHolding
from .money import FeePolicy, fee_policy_for
from .states import EscrowState
from .timers import TimerPolicy, check_aware


class EscrowDeadlines(EscrowHolding):
    def expire_payment(self, now: datetime) -> None:
        """System: the employer did not pay by `payment_due_at`."""
        self._check_due(self._clocks().payment_expires_at(), now, "expire the payment")
        self.state = EscrowState.CANCELLED
        self.events.append(EscrowCancelled(self._changed(now), "payment_expired"))

    def remind_release(self, now: datetime, policy: TimerPolicy) -> datetime:
        """System: remind the employer to release delivered work; returns the next reminder time."""
        self._check_due(self._clocks().reminder_due_at(policy), now, "remind of the release")
        assert self.delivered_at is not None  # a reminder is only due while delivered
        self.last_reminded_at = now
        next_at = now + policy.release_reminder_every
        self.events.append(
            ReleaseReminderDue(
                self._changed(now), delivered_at=self.delivered_at, next_reminder_at=next_at
            )
        )
        return next_at

    def auto_release(
        self, now: datetime, fees: Mapping[str, FeePolicy], policy: TimerPolicy
    ) -> None:
        """System: release everything held once `auto_release_after` passed since delivery."""
        self._check_due(self._clocks().auto_release_due_at(policy), now, "auto-release")
        split = fee_policy_for(fees, self.currency).split(self.held)
        self._pay_out_release(split, now, True)

    def _check_due(self, due_at: datetime | None, now: datetime, action: str) -> None:
        check_aware(now)
        if due_at is None:
            raise InvalidState(
                f"cannot {action}: no such timer for escrow {self.escrow_id} ({self.state})"
            )
        if now < due_at:
            raise InvalidState(f"cannot {action} before {due_at.isoformat()}")
