"""The snapshot every escrow event carries (DESIGN §3, §7), its version, and an escrow rebuilt
from what the repository persists."""

from collections.abc import Callable
from dataclasses import fields
from datetime import UTC, datetime

from escrow.domain import Actor, Escrow, EscrowSnapshot, EscrowState, FeePolicy

NOW = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
FEES = {"IRR": FeePolicy(fee_bps=1000, min_fee=500)}
EMPLOYER, CONTRACTOR = Actor("emp-1", "employer"), Actor("con-1", "contractor")

WIRE_FIELDS = {
    "escrow_id",
    "contract_id",
    "employer_id",
    "contractor_id",
    "kind",
    "currency",
    "amount",
    "state",
    "state_before_dispute",
    "held",
    "funded_amount",
    "released_amount",
    "refunded_amount",
    "fees_charged",
    "payment_id",
    "dispute_id",
    "description",
    "created_at",
    "updated_at",
    "version",
    "delivered_at",
    "payment_due_at",
}
PERSISTED = {f.name for f in fields(Escrow) if f.init}


def test_the_snapshot_has_exactly_the_wire_fields(escrow_in: Callable[[str], Escrow]) -> None:
    assert set(escrow_in("funded").snapshot().as_dict()) == WIRE_FIELDS
    assert {f.name for f in fields(EscrowSnapshot)} == WIRE_FIELDS


def test_the_snapshot_tells_where_the_money_went(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = escrow_in("delivered")
    escrow.release(EMPLOYER, NOW, FEES, 30_000)
    escrow.refund(CONTRACTOR, NOW, 20_000)
    snapshot = escrow.snapshot()
    assert (snapshot.held, snapshot.funded_amount, snapshot.released_amount) == (
        50_000,
        100_000,
        30_000,
    )
    assert (snapshot.refunded_amount, snapshot.fees_charged, snapshot.updated_at) == (
        20_000,
        3_000,
        NOW,
    )
    assert snapshot.delivered_at is not None and snapshot.payment_id is not None


def test_each_change_adds_one_to_the_version(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = escrow_in("delivered")
    escrow.release(EMPLOYER, NOW, FEES, 1)
    escrow.open_dispute("d-1", NOW)
    escrow.withdraw_dispute("d-1", NOW)
    escrow.refund(CONTRACTOR, NOW)
    assert [event.escrow.version for event in escrow.events] == list(range(1, 8))
    assert escrow.version == 7


def test_an_escrow_rebuilt_from_its_persisted_fields_is_the_same(
    escrow_in: Callable[[str], Escrow],
) -> None:
    original = escrow_in("delivered")
    original.release(EMPLOYER, NOW, FEES, 10_000)

    stored = {name: getattr(original, name) for name in PERSISTED}
    # As a database hands them back: enums as plain strings.
    stored |= {"kind": str(original.kind.value), "state": str(original.state.value)}
    rebuilt = Escrow(**stored)
    rebuilt.transactions = list(original.transactions)

    assert rebuilt.snapshot() == original.snapshot()
    assert type(rebuilt.state) is EscrowState
    assert rebuilt.events == []
    rebuilt.release(EMPLOYER, NOW, FEES)
    assert (rebuilt.state, rebuilt.version, rebuilt.held) == (EscrowState.RELEASED, 5, 0)
    # Transactions carry the version they were posted at: the repository saves the new ones.
    assert [t.escrow_version for t in rebuilt.transactions] == [2, 4, 5]


def test_requested_changes_withdraw_the_delivery(escrow_in: Callable[[str], Escrow]) -> None:
    escrow = escrow_in("delivered")
    assert escrow.snapshot().delivered_at is not None
    escrow.request_changes(EMPLOYER, NOW)
    assert escrow.snapshot().delivered_at is None
    escrow.deliver(CONTRACTOR, NOW)
    assert escrow.snapshot().delivered_at == NOW
