"""Settings of the escrow service (environment variables; see the README)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from shared.settings import ServiceSettings
from shared.timers import TimerRetry

from escrow.domain import FeePolicy, TimerPolicy


class FeeSetting(BaseModel):
    fee_bps: int
    min_fee: int = 0


class EscrowSettings(ServiceSettings):
    service_name: str = "escrow"
    http_port: int = 8001
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:54329/escrow"

    #: ISO 4217 codes this deployment accepts, each with its commission (`ESCROW_FEES` as JSON)
    escrow_fees: dict[str, FeeSetting] = {
        "IRR": FeeSetting(fee_bps=1000, min_fee=10_000),
        "USD": FeeSetting(fee_bps=1000, min_fee=50),
    }
    payment_expiry_s: int = 7 * 24 * 3600
    release_reminder_every_s: int = 3 * 24 * 3600
    #: off unless set: release delivered work automatically after this long
    auto_release_after_s: int | None = None
    #: the longest the timer loop sleeps: it wakes when the next timer falls due or when this
    #: replica schedules an earlier one; this bound catches timers another replica scheduled
    timer_max_idle_ms: int = 30_000
    #: a timer whose firing fails is retried after TIMER_BACKOFF_INITIAL_S, doubling up to
    #: TIMER_BACKOFF_MAX_S, and parked (never fired again, counted) after this many attempts
    timer_max_attempts: int = Field(default=10, ge=1)
    timer_backoff_initial_s: float = Field(default=5.0, gt=0)
    timer_backoff_max_s: float = Field(default=3600.0, gt=0)
    #: how often the money-held gauge is read from the database
    metrics_refresh_s: float = 15.0

    def fees(self) -> dict[str, FeePolicy]:
        return {code: FeePolicy(f.fee_bps, f.min_fee) for code, f in self.escrow_fees.items()}

    def timer_policy(self) -> TimerPolicy:
        auto = self.auto_release_after_s
        return TimerPolicy(
            payment_expiry=timedelta(seconds=self.payment_expiry_s),
            release_reminder_every=timedelta(seconds=self.release_reminder_every_s),
            auto_release_after=timedelta(seconds=auto) if auto else None,
        )

    def timer_retry(self) -> TimerRetry:
        return TimerRetry(
            max_attempts=self.timer_max_attempts,
            initial=timedelta(seconds=self.timer_backoff_initial_s),
            longest=timedelta(seconds=max(self.timer_backoff_max_s, self.timer_backoff_initial_s)),
        )
