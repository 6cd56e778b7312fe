"""Builders shared by the dispute unit tests, as fixtures (tests run with --import-mode=importlib,
so they cannot import this module). Each fixture returns a plain function:

- ``at(minutes)``: the moment that many minutes after T0, when every dispute is opened;
- ``escrow(state)``: the snapshot of escrow esc-1 between u-emp and u-con, in IRR;
- ``opened(by)``, ``negotiating(by, held)``, ``arbitrating(arbiter)``: dispute d-1 at each stage;
- ``refused(dispute, code, action)``: the action is refused and the dispute is left untouched.

They are stateless, hence session-scoped (and usable from hypothesis tests).
"""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from disputes.domain import (
    ADMIN,
    ARBITER,
    CONTRACTOR,
    EMPLOYER,
    Actor,
    Dispute,
    DisputeRefusal,
    EscrowSnapshot,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
HELD = 1_000_000
EMP = Actor("u-emp", EMPLOYER)
CON = Actor("u-con", CONTRACTOR)
ADM = Actor("u-admin", ADMIN)
ARB = Actor("u-arb", ARBITER)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _escrow(state: str = "funded") -> EscrowSnapshot:
    return EscrowSnapshot("esc-1", "u-emp", "u-con", state, "IRR")


def _opened(by: Actor = EMP) -> Dispute:
    return Dispute.open(
        dispute_id="d-1", escrow=_escrow(), actor=by, reason="quality", statement="broken", now=T0
    )


def _negotiating(by: Actor = EMP, held: int = HELD) -> Dispute:
    dispute = _opened(by)
    dispute.escrow_disputed(held, _at(1))
    return dispute


def _arbitrating(arbiter: Actor | None = ARB) -> Dispute:
    dispute = _negotiating()
    dispute.escalate(CON, _at(2))
    if arbiter is not None:
        dispute.assign_arbiter(ADM, arbiter.user_id, _at(3))
    return dispute


def _refused(dispute: Dispute, code: str, action: Callable[[], object]) -> DisputeRefusal:
    """The action is refused with `code` and the dispute is exactly as before."""
    before, events = dispute.snapshot(), list(dispute.events)
    with pytest.raises(DisputeRefusal) as caught:
        action()
    assert caught.value.reason_code == code
    assert dispute.snapshot() == before
    assert dispute.events == events
    return caught.value


@pytest.fixture(scope="session")
def at() -> Callable[[int], datetime]:
    return _at


@pytest.fixture(scope="session")
def escrow() -> Callable[..., EscrowSnapshot]:
    return _escrow


@pytest.fixture(scope="session")
def opened() -> Callable[..., Dispute]:
    return _opened


@pytest.fixture(scope="session")
def negotiating() -> Callable[..., Dispute]:
    return _negotiating


@pytest.fixture(scope="session")
def arbitrating() -> Callable[..., Dispute]:
    return _arbitrating


@pytest.fixture(scope="session")
def refused() -> Callable[..., DisputeRefusal]:
    return _refused
