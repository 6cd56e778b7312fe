"""`escrowctl pay | wallet | payout | retry-refund`: the payments side of the suite's CLI.

Talks to a running suite like the marketplace does: signed commands over Kafka, the payer at the
sandbox gateway's page, reads over the payments service's HTTP API. Where the suite runs is read
from `var/suite.json` (written by `make run`); `KAFKA_BOOTSTRAP_SERVERS`, `TOPIC_PREFIX`,
`PAYMENTS_URL` and `SANDBOX_URL` override it.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from shared.auth import ActorAuth
from shared.cli.config import keyring_of
from shared.client import SuiteClient
from shared.contract.base import Actor, Role
from shared.contract.payments import PaymentPurpose, RequestPayout, RetryRefund, StartPayment
from shared.signing import Keyring

app = typer.Typer(help="Payments: pay at the sandbox, wallets, payouts.", no_args_is_help=True)

SUITE_FILE = Path(os.environ.get("ESCROW_VAR_DIR", "var")) / "suite.json"
SuiteFile = Annotated[Path, typer.Option(help="The suite description `make run` writes.")]
WATCHED = [
    "payment-started",
    "payment-received",
    "payment-failed",
    "payout-completed",
    "payout-failed",
    "refund-completed",
    "refund-failed",
]


@dataclass(frozen=True)
class Suite:
    bootstrap_servers: str
    topic_prefix: str
    private_key_pem: str | None
    payments_url: str
    sandbox_url: str
    #: the services' public keys: a result is taken only when its service signed it
    keyring: Keyring

    @classmethod
    def load(cls, path: Path) -> Suite:
        found: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        key_file = found.get("actor_token_private_key_file")
        return cls(
            bootstrap_servers=os.environ.get(
                "KAFKA_BOOTSTRAP_SERVERS", found.get("kafka_bootstrap_servers", "127.0.0.1:19092")
            ),
            topic_prefix=os.environ.get("TOPIC_PREFIX", found.get("topic_prefix", "")),
            private_key_pem=Path(key_file).read_text() if key_file else None,
            payments_url=os.environ.get(
                "PAYMENTS_URL", found.get("services", {}).get("payments", "http://127.0.0.1:8002")
            ),
            sandbox_url=os.environ.get(
                "SANDBOX_URL", found.get("sandbox_url", "http://127.0.0.1:8010")
            ),
            keyring=keyring_of(found),
        )

    def client(self) -> SuiteClient:
        return SuiteClient(
            self.bootstrap_servers,
            prefix=self.topic_prefix,
            private_key_pem=self.private_key_pem,
            watch=WATCHED,
            keyring=self.keyring,
        )


async def _first(client: SuiteClient, topics: list[str], **match: Any) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        for topic in topics:
            for event in client.watcher.events(topic):
                if all(event.data.get(k) == v for k, v in match.items()):
                    return {"event": topic, **event.data}
        return None

    answer: dict[str, Any] = await client.watcher.wait_for(found, timeout=30)
    return answer


async def pay_and_complete(
    client: SuiteClient, command: StartPayment, outcome: str = "paid"
) -> dict[str, Any]:
    """Start a payment, then act as the payer at the sandbox page (`outcome` none: stop there)."""
    result = await client.execute(command)
    if not result.accepted:
        return {"result": result.model_dump()}
    started = await _first(client, ["payment-started"], payment_id=command.payment_id)
    if outcome == "none":
        return started
    async with httpx.AsyncClient(timeout=30) as browser:
        response = await browser.post(started["redirect_url"], json={"outcome": outcome})
        response.raise_for_status()
    return await _first(
        client, ["payment-received", "payment-failed"], payment_id=command.payment_id
    )


async def request_payout(client: SuiteClient, command: RequestPayout, wait: bool) -> dict[str, Any]:
    result = await client.execute(command)
    if not result.accepted or not wait:
        return {"result": result.model_dump()}
    return await _first(client, ["payout-completed", "payout-failed"], payout_id=command.payout_id)


async def read(suite: Suite, path: str) -> Any:
    """Read the payments API as an admin, with tokens signed by the suite's key."""
    key, admin = suite.private_key_pem, Actor(user_id="escrowctl", role=Role.ADMIN)
    auth = ActorAuth(key, admin) if key else None
    async with httpx.AsyncClient(base_url=suite.payments_url, timeout=10, auth=auth) as http:
        response = await http.get(path)
        return response.json()


def _run(suite: Suite, work: Any) -> None:
    async def main() -> Any:
        async with suite.client() as client:
            return await work(client)

    typer.echo(json.dumps(asyncio.run(main()), indent=2, ensure_ascii=False))


@app.command()
def pay(
    amount: Annotated[int, typer.Argument(help="In the currency's smallest unit (rials).")],
    escrow: Annotated[str | None, typer.Option(help="Fund this escrow.")] = None,
    payee: Annotated[str | None, typer.Option(help="A direct payment to this user.")] = None,
    payer: str = "emp-1",
    currency: str = "IRR",
    payment_id: str | None = None,
    outcome: Annotated[str, typer.Option(help="paid, failed, or none (stop at the URL)")] = "paid",
    suite_file: SuiteFile = SUITE_FILE,
) -> None:
    """Start a payment and complete it at the sandbox gateway."""
    if bool(escrow) == bool(payee):
        raise typer.BadParameter("name exactly one of --escrow or --payee")
    command = StartPayment(
        actor=Actor(user_id=payer, role=Role.EMPLOYER),
        payment_id=payment_id or f"pay-{uuid.uuid4().hex[:12]}",
        purpose=PaymentPurpose.ESCROW if escrow else PaymentPurpose.DIRECT,
        amount=amount,
        currency=currency,
        escrow_id=escrow,
        payee_id=payee,
    )
    _run(Suite.load(suite_file), lambda client: pay_and_complete(client, command, outcome))


@app.command()
def wallet(user_id: str, suite_file: SuiteFile = SUITE_FILE) -> None:
    """A user's wallet balances and latest entries."""
    suite = Suite.load(suite_file)
    typer.echo(json.dumps(asyncio.run(read(suite, f"/wallets/{user_id}")), indent=2))


@app.command()
def payout(
    user: str,
    amount: int,
    iban: Annotated[str, typer.Argument(help="IBAN / Sheba, e.g. IR06 2960 …")],
    currency: str = "IRR",
    payout_id: str | None = None,
    wait: bool = True,
    suite_file: SuiteFile = SUITE_FILE,
) -> None:
    """Send a contractor's wallet money to his bank account."""
    command = RequestPayout(
        actor=Actor(user_id=user, role=Role.CONTRACTOR),
        payout_id=payout_id or f"po-{uuid.uuid4().hex[:12]}",
        amount=amount,
        currency=currency,
        iban=iban.replace(" ", "").upper(),
    )
    _run(Suite.load(suite_file), lambda client: request_payout(client, command, wait))


@app.command("retry-refund")
def retry_refund(
    refund_id: str, admin: str = "admin-1", suite_file: SuiteFile = SUITE_FILE
) -> None:
    """An operator re-queues a refund that ran out of automatic retries."""
    command = RetryRefund(actor=Actor(user_id=admin, role=Role.ADMIN), refund_id=refund_id)

    async def work(client: SuiteClient) -> Any:
        return (await client.execute(command)).model_dump()

    _run(Suite.load(suite_file), work)
