"""The dispute's deadlines as settings (durations) and the timers they produce.

Durations come from the service's settings; due times are computed from the moments the dispute
entered negotiation or arbitration, so changing a setting moves timers not yet fired.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

RESPONDENT_REMINDER: Final = "respondent_reminder"
RESPONDENT_DEADLINE: Final = "respondent_deadline"
NEGOTIATION_WINDOW_END: Final = "negotiation_window_end"
ARBITRATION_SLA_REMINDER: Final = "arbitration_sla_reminder"
TIMER_KINDS: Final = (
    RESPONDENT_REMINDER,
    RESPONDENT_DEADLINE,
    NEGOTIATION_WINDOW_END,
    ARBITRATION_SLA_REMINDER,
)


@dataclass(frozen=True)
class DeadlinePolicy:
    """Durations from the service's settings."""

    respondent_deadline: timedelta
    respondent_reminder_before: timedelta
    negotiation_window: timedelta
    arbitration_sla: timedelta

    def __post_init__(self) -> None:
        if min(
            self.respondent_deadline,
            self.negotiation_window,
            self.arbitration_sla,
            self.respondent_reminder_before,
        ) <= timedelta(0):
            raise ValueError("dispute deadlines must be positive durations")
        if self.respondent_reminder_before >= self.respondent_deadline:
            raise ValueError("the respondent reminder must come after negotiation starts")


@dataclass(frozen=True)
class Timer:
    kind: str
    due_at: datetime
