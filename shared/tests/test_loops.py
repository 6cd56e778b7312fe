"""Background loops sleep until their next due time or a ring, not for a polling interval.

No test bounds how long anything takes: each waits (generously) for a round that would only come
after an hour if the loop polled, or checks, without any clock, that a sleep is still pending.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from shared.clock import SystemClock
from shared.loops import Alarm, scheduled

HOUR = timedelta(hours=1)
CLOCK = SystemClock()


class Rounds:
    """A round that records each call and answers the next due time it is told to."""

    def __init__(self, *answers: timedelta | Exception | None) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.called = asyncio.Condition()

    async def __call__(self) -> datetime | None:
        self.calls += 1
        async with self.called:
            self.called.notify_all()
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, Exception):
            raise answer
        return None if answer is None else CLOCK.now() + answer

    async def reach(self, calls: int) -> None:
        async with self.called:
            await asyncio.wait_for(self.called.wait_for(lambda: self.calls >= calls), 30)


async def settled() -> None:
    """Let every ready task run (no clock involved)."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
async def run():
    stopping, tasks = asyncio.Event(), []

    def start(loop):
        tasks.append(asyncio.create_task(loop(stopping)))

    yield start
    stopping.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_loop_wakes_at_the_due_time_its_round_reports(run):
    rounds = Rounds(timedelta(milliseconds=20))
    run(scheduled(rounds, "test", clock=CLOCK, max_idle=HOUR))
    await rounds.reach(2)  # a polling loop would wait the hour


async def test_a_ring_wakes_an_idle_loop_at_once(run):
    rounds, alarm = Rounds(), Alarm()
    run(scheduled(rounds, "test", clock=CLOCK, max_idle=HOUR, alarm=alarm))
    await rounds.reach(1)
    await settled()
    assert rounds.calls == 1
    alarm.ring()
    await rounds.reach(2)


async def test_work_due_before_the_planned_wake_rings_later_work_does_not():
    alarm = Alarm()
    planned = CLOCK.now() + HOUR
    sleeping = asyncio.create_task(alarm.sleep(HOUR.total_seconds(), planned))
    await settled()
    alarm.ring_at(planned + timedelta(minutes=1))  # after the planned wake: no reason to wake
    alarm.ring_at(None)  # nothing due
    await settled()
    assert not sleeping.done()
    alarm.ring_at(planned - timedelta(minutes=59))
    await asyncio.wait_for(sleeping, 30)


async def test_a_ring_during_a_round_is_not_lost(run):
    alarm = Alarm()

    class RingingRound(Rounds):
        async def __call__(self) -> datetime | None:
            due = await super().__call__()
            if self.calls == 1:
                alarm.ring_at(CLOCK.now() + HOUR)  # committed while the round runs
            return due

    rounds = RingingRound()
    run(scheduled(rounds, "test", clock=CLOCK, max_idle=HOUR, alarm=alarm))
    await rounds.reach(2)


async def test_a_failing_round_is_logged_and_tried_again(run, caplog):
    rounds = Rounds(RuntimeError("database away"), None)
    loop = scheduled(
        rounds, "test", clock=CLOCK, max_idle=HOUR, retry_after=timedelta(milliseconds=10)
    )
    run(loop)
    await rounds.reach(2)
    assert "test round failed" in caplog.text


async def test_the_safety_round_comes_after_max_idle_when_nothing_is_due(run):
    rounds = Rounds(None, None)
    run(scheduled(rounds, "test", clock=CLOCK, max_idle=timedelta(milliseconds=20)))
    await rounds.reach(3)
