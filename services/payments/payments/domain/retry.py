"""How often and how long money-moving gateway calls are retried: a bounded exponential backoff."""

from dataclasses import dataclass
from datetime import timedelta


@dataclass(frozen=True)
class RetrySchedule:
    max_attempts: int
    initial_delay: timedelta
    max_delay: timedelta
    factor: int = 2

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("a retry schedule allows at least one attempt")

    def delay_after(self, attempts: int) -> timedelta:
        """The wait before the next attempt, after `attempts` attempts so far."""
        exponent = max(attempts - 1, 0)
        # Cap the exponent so a long-failing row never builds an enormous integer.
        delay: timedelta = self.initial_delay * int(self.factor ** min(exponent, 32))
        return min(delay, self.max_delay)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
