"""Settings of the disputes service (environment variables; see the README)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from shared.settings import ServiceSettings
from shared.timers import TimerRetry

from disputes.domain import DeadlinePolicy

DAY_S = 24 * 3600


class DisputesSettings(ServiceSettings):
    SEALS_AT_REST = True  # what the parties wrote (dispute snapshots)
    service_name: str = "disputes"
    http_port: int = 8003
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:54329/disputes"

    #: DISPUTE_RESPONDENT_DEADLINE_S: how long the respondent has to answer once negotiation starts
    dispute_respondent_deadline_s: int = 3 * DAY_S
    #: how long before that deadline the respondent is reminded
    dispute_respondent_reminder_before_s: int = DAY_S
    #: after this long in negotiation without agreement, the dispute goes to arbitration
    dispute_negotiation_window_s: int = 7 * DAY_S
    #: the arbiter (or the admins, while none is assigned) is reminded after this long
    dispute_arbitration_sla_s: int = 5 * DAY_S
    #: the longest the deadline loop sleeps: it wakes when the next deadline falls due or when
    #: this replica schedules an earlier one; this bound catches those of another replica
    dispute_timer_max_idle_ms: int = 30_000
    #: a deadline whose firing fails is retried after DISPUTE_TIMER_BACKOFF_INITIAL_S, doubling
    #: up to DISPUTE_TIMER_BACKOFF_MAX_S, and parked (never fired again, counted) after this many
    dispute_timer_max_attempts: int = Field(default=10, ge=1)
    dispute_timer_backoff_initial_s: float = Field(default=5.0, gt=0)
    dispute_timer_backoff_max_s: float = Field(default=3600.0, gt=0)
    #: how often the disputes-by-state gauge is read from the database
    metrics_refresh_s: float = 15.0

    def deadline_policy(self) -> DeadlinePolicy:
        """The deadlines as the domain reads them; refuses zero, negative or inverted durations."""
        return DeadlinePolicy(
            respondent_deadline=timedelta(seconds=self.dispute_respondent_deadline_s),
            respondent_reminder_before=timedelta(seconds=self.dispute_respondent_reminder_before_s),
            negotiation_window=timedelta(seconds=self.dispute_negotiation_window_s),
            arbitration_sla=timedelta(seconds=self.dispute_arbitration_sla_s),
        )

    def timer_retry(self) -> TimerRetry:
        return TimerRetry(
            max_attempts=self.dispute_timer_max_attempts,
            initial=timedelta(seconds=self.dispute_timer_backoff_initial_s),
            longest=timedelta(
                seconds=max(self.dispute_timer_backoff_max_s, self.dispute_timer_backoff_initial_s)
            ),
        )
