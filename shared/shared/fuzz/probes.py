"""Does every service still answer, and how fast? Its `/health/ready`, and a real command signed
with the suite's actor-token key (as the bench signs them) answered on `command-results`:
escrow `OpenContract` (accepted), payments `RequestPayout` from an empty wallet (refused
`insufficient_funds`: an answer, and nothing changes), disputes `OpenDispute` on an escrow it never
heard of (refused `not_escrowed`). The notifications service answers no command: its answer is the
delivery it notes for the contract's contractor (whose contact was published before fuzzing),
timed from the `OpenContract`'s answer, which its `contract-opened` travels with, to the
delivery showing in its read API. Each probe runs `rounds` times, one after the other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.auth import ActorAuth
from shared.bench.driver import Driver
from shared.contract import disputes, escrow, payments
from shared.contract.base import Actor, Command, Role
from shared.contract.directory import UserContactUpdated

POLL_S = 0.01


def iban(account: str) -> str:
    """A well-formed Iranian IBAN (Sheba) around `account` (22 digits), checksum included."""
    digits = account.rjust(22, "0")[:22]
    rearranged = f"{digits}1827" + "00"  # I=18, R=27, then the check digits as 00
    return f"IR{98 - int(rearranged) % 97:02d}{digits}"


@dataclass
class Probe:
    service: str
    what: str
    seconds: list[float | None] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    @property
    def answered(self) -> bool:
        return bool(self.seconds) and all(s is not None for s in self.seconds)

    @property
    def slowest(self) -> float | None:
        return max(s for s in self.seconds if s is not None) if self.answered else None

    def within(self, bound_s: float) -> bool:
        return self.slowest is not None and self.slowest <= bound_s

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "what": self.what,
            "seconds": self.seconds,
            "answers": self.answers,
            "slowest_s": self.slowest,
        }


def contacts(tag: str, rounds: int) -> list[UserContactUpdated]:
    """The contacts the notifications probe needs, to be published before fuzzing."""
    return [
        UserContactUpdated(user_id=f"{tag}-probe-con-{i}", email=f"{tag}-probe-{i}@fuzz.invalid")
        for i in range(rounds)
    ]


class Probes:
    def __init__(self, driver: Driver, urls: dict[str, str], tag: str, timeout_s: float) -> None:
        self.driver = driver
        #: the delivery log is read as an admin, with tokens of the suite's key
        self.reader = ActorAuth(driver.private_key_pem, Actor(user_id="fuzz", role=Role.ADMIN))
        self.urls = urls
        self.tag = tag
        self.timeout_s = timeout_s
        self.employer = Actor(user_id=f"{tag}-probe-employer", role=Role.EMPLOYER)

    async def run(self, rounds: int) -> list[Probe]:
        found = [await self.health(name, rounds) for name in self.urls]
        escrow_probe = Probe("escrow", "OpenContract answered")
        notified = Probe("notifications", "contract-opened noted as a delivery")
        for i in range(rounds):
            answer_at = await self._command(escrow_probe, self._open_contract(i))
            notified.seconds.append(await self._noted(i, answer_at))
        found += [escrow_probe, notified]
        for service, what, build in (
            ("payments", "RequestPayout answered", self._payout),
            ("disputes", "OpenDispute answered", self._dispute),
        ):
            probe = Probe(service, what)
            for i in range(rounds):
                await self._command(probe, build(i))
            found.append(probe)
        return found

    async def health(self, name: str, rounds: int) -> Probe:
        probe = Probe(name, "GET /health/ready")
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for _ in range(rounds):
                started = time.perf_counter()
                try:
                    status = (await client.get(f"{self.urls[name]}/health/ready")).status_code
                except httpx.HTTPError as exc:
                    probe.seconds.append(None)
                    probe.answers.append(type(exc).__name__)
                    continue
                ok = status == 200
                probe.seconds.append(time.perf_counter() - started if ok else None)
                probe.answers.append(str(status))
        return probe

    async def _command(self, probe: Probe, command: Command) -> float | None:
        self.driver.check()  # its consumer reads the answers: if it stopped, none can come
        sent = await self.driver.send(command)
        try:
            async with asyncio.timeout(self.timeout_s):
                answer = await sent.answer
        except TimeoutError:
            self.driver.forget(sent.command_id)
            probe.seconds.append(None)
            probe.answers.append("no answer")
            return None
        probe.seconds.append(answer.at - sent.at)
        probe.answers.append(f"{answer.status} {answer.reason_code or ''}".strip())
        return answer.at

    async def _noted(self, i: int, answer_at: float | None) -> float | None:
        """Seconds from the contract's answer to its contractor's delivery showing."""
        if answer_at is None:
            return None
        contractor = f"{self.tag}-probe-con-{i}"
        return await _until(lambda: self._has_delivery(contractor), answer_at, self.timeout_s)

    async def _has_delivery(self, user_id: str) -> bool:
        async with httpx.AsyncClient(timeout=self.timeout_s, auth=self.reader) as client:
            answer = await client.get(
                f"{self.urls['notifications']}/deliveries", params={"user_id": user_id}
            )
        return answer.status_code == 200 and bool(answer.json().get("deliveries"))

    def _open_contract(self, i: int) -> escrow.OpenContract:
        return escrow.OpenContract(
            actor=self.employer,
            contract_id=f"{self.tag}-probe-contract-{i}",
            contractor_id=f"{self.tag}-probe-con-{i}",
            currency="IRR",
        )

    def _payout(self, i: int) -> payments.RequestPayout:
        contractor = Actor(user_id=f"{self.tag}-probe-payee-{i}", role=Role.CONTRACTOR)
        return payments.RequestPayout(
            actor=contractor,
            payout_id=f"{self.tag}-probe-payout-{i}",
            amount=1000,
            currency="IRR",
            iban=iban(f"{i}12345"),
        )

    def _dispute(self, i: int) -> disputes.OpenDispute:
        return disputes.OpenDispute(
            actor=self.employer,
            dispute_id=f"{self.tag}-probe-dispute-{i}",
            escrow_id=f"{self.tag}-probe-no-such-escrow-{i}",
            reason=disputes.DisputeReason.OTHER,
            statement="A probe of the disputes service.",
        )


async def _until(
    check: Callable[[], Awaitable[bool]], since: float, timeout_s: float
) -> float | None:
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        try:
            if await check():
                return time.perf_counter() - since
        except httpx.HTTPError:
            pass
        await asyncio.sleep(POLL_S)
    return None
