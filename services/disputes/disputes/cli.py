"""`escrowctl dispute …`: every dispute command, and the disputes read API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import typer
from shared.cli.common import As, act, show

app = typer.Typer(help="Disputes (arbitration, داوری) of secure payments.", no_args_is_help=True)

Role = Annotated[str, typer.Option(help="the acting party: employer or contractor")]
EvidenceFile = Annotated[
    Path | None,
    typer.Option(help="JSON list of {name, media_type, sha256, uri} evidence references"),
]


def _send(name: str, role: str, user: str, **data: Any) -> None:
    act(f"disputes.{name}.v1", role, user, **data)


@app.command("open")
def open_dispute(
    dispute_id: str,
    escrow_id: str,
    reason: str,
    statement: str,
    user: As,
    role: Role = "contractor",
) -> None:
    """A party disputes a funded or delivered escrow (reason: not_delivered, quality, ...)."""
    _send(
        "OpenDispute",
        role,
        user,
        dispute_id=dispute_id,
        escrow_id=escrow_id,
        reason=reason,
        statement=statement,
    )


@app.command()
def statement(
    dispute_id: str, text: str, user: As, role: Role = "contractor", evidence: EvidenceFile = None
) -> None:
    """A party adds a statement, with references to evidence files and their sha256."""
    items = json.loads(evidence.read_text()) if evidence else []
    _send("SubmitStatement", role, user, dispute_id=dispute_id, text=text, evidence=items)


@app.command()
def propose(dispute_id: str, contractor_amount: int, user: As, role: Role = "contractor") -> None:
    """A party proposes the contractor's share (minor units); the employer gets the rest."""
    _send(
        "ProposeSettlement", role, user, dispute_id=dispute_id, contractor_amount=contractor_amount
    )


@app.command()
def accept(
    dispute_id: str,
    user: As,
    role: Role = "employer",
    proposal: Annotated[str | None, typer.Option(help="proposal number; default: latest")] = None,
) -> None:
    """The other party accepts a settlement proposal: a verdict of kind agreement."""
    _send("AcceptSettlement", role, user, dispute_id=dispute_id, proposal_id=proposal)


@app.command()
def escalate(dispute_id: str, user: As, role: Role = "contractor") -> None:
    """A party sends the dispute to arbitration at once."""
    _send("EscalateDispute", role, user, dispute_id=dispute_id)


@app.command()
def assign(dispute_id: str, arbiter_id: str, user: As) -> None:
    """An admin assigns (or reassigns) the dispute's arbiter."""
    _send("AssignArbiter", "admin", user, dispute_id=dispute_id, arbiter_id=arbiter_id)


@app.command()
def verdict(
    dispute_id: str, contractor_amount: int, employer_amount: int, user: As, rationale: str = ""
) -> None:
    """The assigned arbiter splits what is held; the two shares must add up to it exactly."""
    _send(
        "IssueVerdict",
        "arbiter",
        user,
        dispute_id=dispute_id,
        contractor_amount=contractor_amount,
        employer_amount=employer_amount,
        rationale=rationale,
    )


@app.command()
def withdraw(dispute_id: str, user: As, role: Role = "contractor") -> None:
    """The opener withdraws the dispute; the escrow is unfrozen."""
    _send("WithdrawDispute", role, user, dispute_id=dispute_id)


@app.command("show")
def show_dispute(dispute_id: str) -> None:
    """A dispute with its statements, proposals, verdict, full timeline and timers."""
    show("disputes", f"/disputes/{dispute_id}")


@app.command("list")
def list_disputes(
    escrow_id: str | None = None,
    party: str | None = None,
    arbiter: str | None = None,
    state: str | None = None,
) -> None:
    """Disputes of an escrow, a party or an arbiter, or in a state."""
    given = {"escrow_id": escrow_id, "party": party, "arbiter": arbiter, "state": state}
    query = urlencode({k: v for k, v in given.items() if v})
    show("disputes", "/disputes" + (f"?{query}" if query else ""))
