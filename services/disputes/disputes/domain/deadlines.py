"""Deadlines: which timers a dispute is waiting on, and what happens when one fires.

Pure: `timers(policy)` tells the service what to schedule; `fire(kind, policy, now)` acts once.
A timer that no longer applies (the dispute moved on, the respondent answered, it already fired)
is a no-op returning False, so late or repeated timers are harmless. One fired early is refused.
"""

from collections.abc import Callable
from datetime import datetime

from .actors import SYSTEM_ACTOR
from .deadline_policy import (
    ARBITRATION_SLA_REMINDER,
    NEGOTIATION_WINDOW_END,
    RESPONDENT_DEADLINE,
    RESPONDENT_REMINDER,
    TIMER_KINDS,
    DeadlinePolicy,
    Timer,
)
from .errors import InvalidState, Malformed
from .events import DeadlineMissed, DeadlineReminderDue
from .record import DisputeRecord, check_utc
from .states import ARBITRATION, NEGOTIATION


class DisputeDeadlines(DisputeRecord):
    def timers(self, policy: DeadlinePolicy) -> list[Timer]:
        """Timers still to fire, earliest first."""
        due = self._due_dates(policy)
        pending = [Timer(kind, at) for kind, at in due.items() if kind not in self.fired_timers]
        return sorted(pending, key=lambda timer: (timer.due_at, TIMER_KINDS.index(timer.kind)))

    def fire(self, kind: str, policy: DeadlinePolicy, now: datetime) -> bool:
        """Act on a due timer; True if the dispute changed."""
        check_utc(now)
        if kind not in TIMER_KINDS:
            raise Malformed(f"unknown dispute timer {kind!r}")
        dates = self._due_dates(policy)
        due_at = dates.get(kind)
        if due_at is None or kind in self.fired_timers:
            return False
        if now < due_at:
            raise InvalidState(f"{kind} is not due until {due_at.isoformat()}")
        self.fired_timers.add(kind)
        self._timer_actions()[kind](dates, now)
        return True

    def _due_dates(self, policy: DeadlinePolicy) -> dict[str, datetime]:
        if self.verdict is not None:
            return {}
        if self.state == NEGOTIATION and self.negotiation_started_at is not None:
            start = self.negotiation_started_at
            dates = {NEGOTIATION_WINDOW_END: start + policy.negotiation_window}
            if not self.respondent_answered:
                deadline = start + policy.respondent_deadline
                dates[RESPONDENT_DEADLINE] = deadline
                dates[RESPONDENT_REMINDER] = deadline - policy.respondent_reminder_before
            return dates
        if self.state == ARBITRATION and self.arbitration_started_at is not None:
            return {ARBITRATION_SLA_REMINDER: self.arbitration_started_at + policy.arbitration_sla}
        return {}

    def _timer_actions(self) -> dict[str, Callable[[dict[str, datetime], datetime], None]]:
        return {
            RESPONDENT_REMINDER: self._remind_respondent,
            RESPONDENT_DEADLINE: self._miss_respondent_deadline,
            NEGOTIATION_WINDOW_END: self._end_negotiation_window,
            ARBITRATION_SLA_REMINDER: self._remind_arbitration_sla,
        }

    def _remind_respondent(self, dates: dict[str, datetime], now: datetime) -> None:
        deadline = dates[RESPONDENT_DEADLINE]  # tell him the deadline, not the reminder's time
        reminder = DeadlineReminderDue(
            **self._event_keys(now),
            timer=RESPONDENT_REMINDER,
            remind_user_id=self.respondent_id,
            deadline_at=deadline,
        )
        details = {"respondent_id": self.respondent_id, "deadline_at": deadline.isoformat()}
        self._step(now, SYSTEM_ACTOR, "respondent_reminded", details, reminder)

    def _miss_respondent_deadline(self, dates: dict[str, datetime], now: datetime) -> None:
        due_at = dates[RESPONDENT_DEADLINE]
        missed = DeadlineMissed(
            **self._event_keys(now),
            timer=RESPONDENT_DEADLINE,
            missed_by=self.respondent_id,
            deadline_at=due_at,
        )
        escalated = self._escalate(now, "system", "respondent_deadline_missed", None)
        details = {"respondent_id": self.respondent_id, "deadline_at": due_at.isoformat()}
        self._step(now, SYSTEM_ACTOR, "respondent_deadline_missed", details, missed, escalated)

    def _end_negotiation_window(self, dates: dict[str, datetime], now: datetime) -> None:
        due_at = dates[NEGOTIATION_WINDOW_END]
        escalated = self._escalate(now, "system", "negotiation_window_ended", None)
        details = {"window_ended_at": due_at.isoformat()}
        self._step(now, SYSTEM_ACTOR, "negotiation_window_ended", details, escalated)

    def _remind_arbitration_sla(self, dates: dict[str, datetime], now: datetime) -> None:
        due_at = dates[ARBITRATION_SLA_REMINDER]
        reminder = DeadlineReminderDue(
            **self._event_keys(now),
            timer=ARBITRATION_SLA_REMINDER,
            remind_user_id=self.arbiter_id,
            deadline_at=due_at,
        )
        details = {"arbiter_id": self.arbiter_id, "sla_ended_at": due_at.isoformat()}
        self._step(now, SYSTEM_ACTOR, "arbitration_sla_reminder", details, reminder)
