"""`escrowctl escrow …`: every escrow command, and the escrow read API."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from shared.cli.common import As, act, show

app = typer.Typer(help="Contracts and secure payments (escrows).", no_args_is_help=True)

Amount = Annotated[int | None, typer.Option(help="minor units; default: all that is held")]


def _send(name: str, role: str, user: str, **data: Any) -> None:
    act(f"escrow.{name}.v1", role, user, **data)


@app.command("open-contract")
def open_contract(
    contract_id: str,
    contractor: str,
    currency: str,
    user: As,
    agreed: Annotated[int | None, typer.Option(help="the agreed price")] = None,
    title: str = "",
) -> None:
    """The employer opens a contract with a contractor."""
    _send(
        "OpenContract",
        "employer",
        user,
        contract_id=contract_id,
        contractor_id=contractor,
        currency=currency,
        agreed_amount=agreed,
        title=title,
    )


@app.command()
def create(
    escrow_id: str,
    contract_id: str,
    amount: int,
    user: As,
    kind: str = "agreed",
    description: str = "",
) -> None:
    """The employer creates a secure payment."""
    _send(
        "CreateEscrow",
        "employer",
        user,
        escrow_id=escrow_id,
        contract_id=contract_id,
        amount=amount,
        kind=kind,
        description=description,
    )


@app.command()
def request(
    escrow_id: str,
    contract_id: str,
    amount: int,
    user: As,
    kind: str = "agreed",
    description: str = "",
) -> None:
    """The contractor asks the employer for a secure payment."""
    _send(
        "RequestEscrow",
        "contractor",
        user,
        escrow_id=escrow_id,
        contract_id=contract_id,
        amount=amount,
        kind=kind,
        description=description,
    )


@app.command()
def accept(escrow_id: str, user: As) -> None:
    """The employer accepts the contractor's request."""
    _send("AcceptEscrowRequest", "employer", user, escrow_id=escrow_id)


@app.command()
def decline(escrow_id: str, user: As, reason: str = "") -> None:
    """The employer declines the contractor's request."""
    _send("DeclineEscrowRequest", "employer", user, escrow_id=escrow_id, reason=reason)


@app.command()
def cancel(escrow_id: str, user: As, role: str = "employer", reason: str = "") -> None:
    """The employer cancels before paying; the contractor withdraws his request (--role)."""
    _send("CancelEscrow", role, user, escrow_id=escrow_id, reason=reason)


@app.command()
def deliver(escrow_id: str, user: As, note: str = "") -> None:
    """The contractor marks the work delivered."""
    _send("DeliverWork", "contractor", user, escrow_id=escrow_id, note=note)


@app.command("request-changes")
def request_changes(escrow_id: str, user: As, note: str = "") -> None:
    """The employer sends delivered work back for changes."""
    _send("RequestChanges", "employer", user, escrow_id=escrow_id, note=note)


@app.command()
def release(escrow_id: str, user: As, amount: Amount = None) -> None:
    """The employer releases money to the contractor."""
    _send("ReleaseEscrow", "employer", user, escrow_id=escrow_id, amount=amount)


@app.command()
def refund(escrow_id: str, user: As, amount: Amount = None) -> None:
    """The contractor gives money back to the employer."""
    _send("RefundEscrow", "contractor", user, escrow_id=escrow_id, amount=amount)


@app.command("show")
def show_escrow(escrow_id: str) -> None:
    """An escrow with its ledger entries, history and timers."""
    show("escrow", f"/escrows/{escrow_id}")


@app.command("contract")
def show_contract(contract_id: str) -> None:
    """A contract and its escrows."""
    show("escrow", f"/contracts/{contract_id}")


@app.command()
def totals() -> None:
    """The escrow ledger's totals per currency and class of account."""
    show("escrow", "/ledger/totals")
