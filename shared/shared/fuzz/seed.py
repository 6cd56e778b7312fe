"""Money in the books before fuzzing, so that "no money moved" means something: whole lifecycles
of the bench (funded at the sandbox, delivered, released: a wallet credited, a fee taken) and
escrows left funded (money held), one of them delivered. Their ids are the fuzzer's targets:
forged records name them, and must move none of their money."""

from __future__ import annotations

from dataclasses import dataclass, field

from shared.bench.closed_loop import EMPLOYER
from shared.bench.lifecycle import AMOUNT, Lifecycles, Trace
from shared.contract import escrow as wire
from shared.contract.base import Actor, Role
from shared.fuzz.values import Targets


@dataclass
class Seeded:
    released: list[str] = field(default_factory=list)
    funded: list[str] = field(default_factory=list)
    targets: Targets = field(default_factory=dict)

    def add(self, name: str, contractor: str) -> None:
        for kind, value in (
            ("escrow_id", f"{name}-e"),
            ("contract_id", f"{name}-c"),
            ("payment_id", f"{name}-p"),
            ("user_id", contractor),
        ):
            self.targets.setdefault(kind, []).append(value)
        if EMPLOYER.user_id not in self.targets["user_id"]:
            self.targets["user_id"].append(EMPLOYER.user_id)


class Seeding(Lifecycles):
    """The bench's lifecycles, and the same steps stopped once the escrow is funded."""

    async def funded(self, name: str, *, deliver: bool) -> None:
        escrow_id, payment_id = f"{name}-e", f"{name}-p"
        contractor = Actor(user_id=f"{name}-con", role=Role.CONTRACTOR)
        trace = Trace(0.0)
        await self._command(
            "open",
            wire.OpenContract(
                actor=EMPLOYER,
                contract_id=f"{name}-c",
                contractor_id=contractor.user_id,
                currency="IRR",
            ),
        )
        await self._command(
            "create",
            wire.CreateEscrow(
                actor=EMPLOYER,
                escrow_id=escrow_id,
                contract_id=f"{name}-c",
                kind=wire.EscrowKind.INSTANT,
                amount=AMOUNT,  # what `_payment` pays
            ),
        )
        funded = self.driver.expect("escrow-funded", escrow_id)
        await self._pay(trace, await self._payment(trace, escrow_id, payment_id))
        await self._event("fund", funded, ("escrow-funded", escrow_id))
        if deliver:
            await self._command("deliver", wire.DeliverWork(actor=contractor, escrow_id=escrow_id))


async def seed(seeding: Seeding, tag: str, *, released: int, funded: int) -> Seeded:
    """`released` whole lifecycles, `funded` escrows left holding money (the first delivered)."""
    found = Seeded()
    for i in range(released):
        name = f"{tag}-released-{i}"
        await seeding.one(name)
        found.released.append(f"{name}-e")
        found.add(name, f"{name}-con")
    for i in range(funded):
        name = f"{tag}-funded-{i}"
        await seeding.funded(name, deliver=i == 0)
        found.funded.append(f"{name}-e")
        found.add(name, f"{name}-con")
    return found
