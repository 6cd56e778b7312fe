"""Commands of DESIGN.md §3: each loads its aggregate, asks the domain, saves; refusals propagate.

A refusal (`domain.EscrowRefusal`) becomes a rejected `CommandResult` with its reason code, and
the runtime rolls back everything the handler did.
"""

from __future__ import annotations

from shared.contract import escrow as wire

from escrow import domain
from escrow.adapters.wire import actor
from escrow.service_layer.unit import EscrowUnit


async def open_contract(cmd: wire.OpenContract, unit: EscrowUnit) -> str:
    if await unit.repo.contract(cmd.contract_id) is not None:
        raise domain.InvalidState(f"contract {cmd.contract_id} already exists")
    contract = domain.Contract.open(
        actor(cmd.actor),
        contract_id=cmd.contract_id,
        contractor_id=cmd.contractor_id,
        currency=cmd.currency,
        now=unit.now,
        accepted_currencies=unit.rules.currencies,
        agreed_amount=cmd.agreed_amount,
        title=cmd.title,
    )
    await unit.repo.add_contract(contract)
    for happened in contract.events:
        unit.ctx.emit(wire.ContractOpened.model_validate(vars(happened)))
    return contract.contract_id


async def create_escrow(cmd: wire.CreateEscrow | wire.RequestEscrow, unit: EscrowUnit) -> str:
    """The employer creates, or the contractor requests, a secure payment under a contract."""
    contract = await unit.repo.contract(cmd.contract_id)  # locked: guards the agreed price
    if contract is None:
        raise domain.NotFound(f"contract {cmd.contract_id} does not exist")
    if await unit.repo.get(cmd.escrow_id, lock=False) is not None:
        raise domain.InvalidState(f"escrow {cmd.escrow_id} already exists")
    terms = {
        "escrow_id": cmd.escrow_id,
        "kind": domain.EscrowKind(cmd.kind.value),
        "amount": cmd.amount,
        "now": unit.now,
        "existing": await unit.repo.of_contract(cmd.contract_id),
        "description": cmd.description,
    }
    if isinstance(cmd, wire.CreateEscrow):
        escrow = contract.create_escrow(actor(cmd.actor), policy=unit.rules.timers, **terms)
    else:
        escrow = contract.request_escrow(actor(cmd.actor), **terms)
    await unit.repo.save_contract(contract)
    await unit.save(escrow, cmd.actor)
    return escrow.escrow_id


async def change(cmd: wire.Command, unit: EscrowUnit) -> str:
    """Every command on one existing escrow: accept, decline, cancel, deliver, changes, money."""
    escrow_id: str = getattr(cmd, "escrow_id")  # noqa: B009 - every escrow command names one
    escrow = await unit.escrow(escrow_id)
    who, now = actor(cmd.actor), unit.now
    match cmd:
        case wire.AcceptEscrowRequest():
            escrow.accept_request(who, now, unit.rules.timers)
        case wire.DeclineEscrowRequest(reason=reason):
            escrow.decline_request(who, now, reason)
        case wire.CancelEscrow(reason=reason):
            escrow.cancel(who, now, reason)
        case wire.DeliverWork(note=note):
            escrow.deliver(who, now, note)
        case wire.RequestChanges(note=note):
            escrow.request_changes(who, now, note)
        case wire.ReleaseEscrow(amount=amount):
            escrow.release(who, now, unit.rules.fees, amount)
        case wire.RefundEscrow(amount=amount):
            escrow.refund(who, now, amount)
        case _:
            raise TypeError(f"no escrow change for {type(cmd).__name__}")
    await unit.save(escrow, cmd.actor)
    return escrow.escrow_id
