"""A probe service for the runtime's tests: real runtime, real database, trivial handlers.

It counts contact updates per user (an event) and opens rows for `OpenContract` (a command), so a
test can see exactly how many times an effect happened. Towards its clients it is the escrow
service (its results are escrow's); its metrics and dead letters say `probe`.

Triggers a test can put in a message: `agreed_amount` 13 is a business refusal; `agreed_amount`
666, or a contact whose `user_id` starts with "poison", makes the handler raise `RuntimeError`
every time (a poison message); `hang_on` names a contact on which the handler blocks forever
(to kill the process while that transaction is open). `calls`, if given, gets the subject of
every handler call, failed and rolled-back ones included, in the order they happened.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from shared.auth import ActorTokenVerifier
from shared.contract.base import Actor, Role
from shared.contract.directory import UserContactUpdated
from shared.contract.escrow import ContractOpened, OpenContract
from shared.contract.results import ReasonCode
from shared.db import Database, new_metadata
from shared.messaging.runtime import HandlerContext
from shared.messaging.tables import metadata as messaging
from shared.service import Service, build_service
from shared.settings import ServiceSettings
from shared.signing import Signer
from shared.testing.harness import settings_for_test

probe_metadata = new_metadata()
effects = sa.Table(
    "effects",
    probe_metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("subject", sa.String, nullable=False),
)


#: an `OpenContract` with this agreed amount makes the probe's handler raise
POISON_AMOUNT = 666
#: a contact whose user id starts with this makes the probe's handler raise
POISON_PREFIX = "poison"
#: an OpenContract with this agreed amount makes the probe emit an event of about a megabyte
HUGE_AMOUNT = 777
#: printed on stdout (then flushed) when the handler starts blocking on `hang_on`
HANGING = "probe: hanging on"


#: who sends the probe's commands in the tests
EMPLOYER = Actor(user_id="emp-1", role=Role.EMPLOYER)


def open_contract(contract_id: str, agreed: int | None = 1000) -> OpenContract:
    """The command the probe answers (`agreed` picks a trigger: 13, `POISON_AMOUNT`, …)."""
    return OpenContract(
        actor=EMPLOYER,
        contract_id=contract_id,
        contractor_id="con-1",
        currency="IRR",
        agreed_amount=agreed,
    )


class ProbeRefusal(Exception):
    reason_code = ReasonCode.EXCEEDS_AGREED_AMOUNT.value


async def create_tables(url: str) -> None:
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(messaging.create_all)
        await conn.run_sync(probe_metadata.create_all)
    await db.dispose()


async def count_effects(db: Database, kind: str, subject: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(effects).where(effects.c.kind == kind)
    if subject is not None:
        query = query.where(effects.c.subject == subject)
    async with db.transaction() as session:
        return int(await session.scalar(query) or 0)


def probe_service(
    bootstrap: str,
    database_url: str,
    prefix: str,
    public_keys: list[str],
    *,
    calls: list[str] | None = None,
    hang_on: str | None = None,
    **overrides: object,
) -> Service:
    settings = settings_for_test(
        ServiceSettings,
        service_name="probe",
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        **overrides,
    )
    service = build_service(settings, package="shared", context="escrow", refusals=(ProbeRefusal,))
    # Both an EdDSA and an RS256 key are trusted, as a marketplace rotating keys would have.
    service.runtime.verifier = ActorTokenVerifier(public_keys)
    # It answers escrow commands, so it plays the escrow service towards its clients: its
    # results are escrow's, signed with escrow's development key.
    service.runtime.signer = Signer.development("escrow")

    @service.runtime.on_event(UserContactUpdated)
    async def contact_updated(event: UserContactUpdated, ctx: HandlerContext) -> None:
        if calls is not None:
            calls.append(event.user_id)
        await ctx.session.execute(sa.insert(effects).values(kind="contact", subject=event.user_id))
        if event.user_id.startswith(POISON_PREFIX):  # after a write, which must be rolled back
            raise RuntimeError(f"the probe cannot digest {event.user_id}")
        if event.user_id == hang_on:
            print(HANGING, event.user_id, flush=True)
            await asyncio.Event().wait()

    @service.runtime.on_command(OpenContract)
    async def open_contract(command: OpenContract, ctx: HandlerContext) -> str:
        if calls is not None:
            calls.append(command.contract_id)
        # The effect and the event come first: a refusal or an error must undo both.
        await ctx.session.execute(
            sa.insert(effects).values(kind="contract", subject=command.contract_id)
        )
        ctx.emit(
            ContractOpened(
                contract_id=command.contract_id,
                employer_id=command.actor.user_id,
                contractor_id=command.contractor_id,
                currency=command.currency,
                agreed_amount=command.agreed_amount,
                title="x" * 1_000_000 if command.agreed_amount == HUGE_AMOUNT else "",
            )
        )
        if command.agreed_amount == POISON_AMOUNT:
            raise RuntimeError(f"the probe cannot digest {command.contract_id}")
        if command.agreed_amount == 13:
            raise ProbeRefusal("thirteen is refused by the probe")
        return command.contract_id

    return service
