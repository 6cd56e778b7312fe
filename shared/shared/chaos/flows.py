"""Playing one plan through the suite, as the marketplace and its users would: signed commands
over Kafka, the payer at the sandbox gateway's page, states read from the read APIs. Each step
waits for what it needs (the escrow funded before the work is delivered, the dispute in
negotiation before it is escalated) with a bound; a refusal or a bound passed is `Stuck`."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx

from shared.chaos.driver import ChaosDriver, Reader, Stuck, call_back_again
from shared.chaos.plans import CURRENCY, Kind, Plan
from shared.contract import disputes
from shared.contract import escrow as wire
from shared.contract.base import Actor, Role
from shared.contract.base import Command as WireCommand
from shared.contract.payments import PaymentPurpose, RequestPayout, StartPayment

SHEBA = "IR820540102680020817909002"
ADMIN = Actor(user_id="chaos-admin", role=Role.ADMIN)
ARBITER = Actor(user_id="chaos-arbiter", role=Role.ARBITER)
#: refusals of the disputes service while its copy of the escrow is behind the escrow service
LAGGING = frozenset({"not_escrowed", "invalid_state"})


@dataclass(frozen=True)
class Bounds:
    resend_s: float
    step_s: float


class Flows:
    def __init__(
        self, driver: ChaosDriver, reader: Reader, sandbox: httpx.AsyncClient, bounds: Bounds
    ) -> None:
        self.driver = driver
        self.reader = reader
        self.sandbox = sandbox
        self.bounds = bounds
        self.callbacks_repeated = 0
        #: dispute commands refused while the disputes service's copy of the escrow lagged
        self.refusals_retried = 0

    async def play(self, plan: Plan) -> float:
        """Play `plan` to its end; when it got there (`monotonic`). `Stuck` names the step."""
        employer = Actor(user_id=plan.employer, role=Role.EMPLOYER)
        contractor = Actor(user_id=plan.contractor, role=Role.CONTRACTOR)
        agreed = plan.amount if plan.kind is Kind.RELEASED_PAID_OUT else None
        await self._ok(
            "open",
            wire.OpenContract(
                actor=employer,
                contract_id=plan.contract_id,
                contractor_id=plan.contractor,
                currency=CURRENCY,
                agreed_amount=agreed,
            ),
        )
        kind = wire.EscrowKind.AGREED if agreed else wire.EscrowKind.INSTANT
        if plan.kind is Kind.DECLINED:
            asked = wire.RequestEscrow(
                actor=contractor,
                escrow_id=plan.escrow_id,
                contract_id=plan.contract_id,
                kind=kind,
                amount=plan.amount,
            )
            await self._ok("request", asked)
            await self._ok(
                "decline", wire.DeclineEscrowRequest(actor=employer, escrow_id=plan.escrow_id)
            )
            await self._state(plan, "declined")
            return time.monotonic()
        await self._ok(
            "create",
            wire.CreateEscrow(
                actor=employer,
                escrow_id=plan.escrow_id,
                contract_id=plan.contract_id,
                kind=kind,
                amount=plan.amount,
            ),
        )
        cancel = wire.CancelEscrow(actor=employer, escrow_id=plan.escrow_id)
        if plan.kind is Kind.CANCELLED:
            await self._ok("cancel", cancel)
            await self._state(plan, "cancelled")
            return time.monotonic()
        redirect = await self._start_payment(plan, employer)
        if plan.kind is Kind.PAID_AFTER_CANCEL:
            await self._ok("cancel", cancel)
            await self._state(plan, "cancelled")
            await self._pay(redirect)
            await self._refunded(plan)
            return time.monotonic()
        await self._pay(redirect)
        await self._state(plan, "funded")
        await self._ok("deliver", wire.DeliverWork(actor=contractor, escrow_id=plan.escrow_id))
        await self._state(plan, "delivered")
        if plan.kind is Kind.REFUNDED:
            await self._ok("refund", wire.RefundEscrow(actor=contractor, escrow_id=plan.escrow_id))
            await self._state(plan, "refunded")
            await self._refunded(plan)
        elif plan.kind is Kind.VERDICT:
            await self._verdict(plan, contractor)
        else:
            if plan.kind is Kind.WITHDRAWN_RELEASED:
                await self._withdrawn(plan, employer)
            if plan.kind is Kind.PARTIAL_RELEASES:
                await self._ok(
                    "release part",
                    wire.ReleaseEscrow(actor=employer, escrow_id=plan.escrow_id, amount=plan.part),
                )
            await self._ok("release", wire.ReleaseEscrow(actor=employer, escrow_id=plan.escrow_id))
            await self._state(plan, "released")
        await self._wallet(plan, plan.contractor_net)
        if plan.kind is Kind.RELEASED_PAID_OUT:
            await self._payout(plan, contractor)
        return time.monotonic()

    # --- steps ------------------------------------------------------------------------------

    async def _ok(self, stage: str, command: WireCommand) -> None:
        answer = await self.driver.execute(stage, command, self.bounds.resend_s, self.bounds.step_s)
        if not answer.accepted:
            raise Stuck(stage, f"rejected {answer.reason_code}")

    async def _ok_once_it_knows(self, stage: str, command: WireCommand) -> None:
        """A dispute command, sent again (a new id each time) while refused `not_escrowed` or
        `invalid_state`: the disputes service learns escrows from the escrow service's events,
        so right after the escrow read API shows a state its copy may still be behind (longer
        after a fault). A refused command changed nothing, so a new one is safe."""
        deadline = time.monotonic() + self.bounds.step_s
        delay = 0.5
        while True:
            answer = await self.driver.execute(
                stage, command, self.bounds.resend_s, self.bounds.step_s
            )
            if answer.accepted:
                return
            if answer.reason_code not in LAGGING or time.monotonic() > deadline:
                raise Stuck(stage, f"rejected {answer.reason_code}")
            self.refusals_retried += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _until(self, stage: str, path: tuple[str, str], what: str, test: Any) -> Any:
        async def read() -> Any:
            found = await self.reader.get(*path)
            return found if found is not None and test(found) else None

        return await self.reader.until(stage, read, self.bounds.step_s, what)

    async def _state(self, plan: Plan, state: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._until(
            state,
            ("escrow", f"/escrows/{plan.escrow_id}"),
            f"escrow not {state}",
            lambda body: body["escrow"]["state"] == state,
        )
        return found

    async def _start_payment(self, plan: Plan, employer: Actor) -> str:
        await self._ok(
            "payment",
            StartPayment(
                actor=employer,
                payment_id=plan.payment_id,
                purpose=PaymentPurpose.ESCROW,
                amount=plan.amount,
                currency=CURRENCY,
                escrow_id=plan.escrow_id,
            ),
        )
        found = await self._until(
            "payment",
            ("payments", f"/payments/{plan.payment_id}"),
            "payment not opened at the gateway",
            lambda body: bool(body.get("redirect_url")),
        )
        return str(found["redirect_url"])

    async def _pay(self, redirect_url: str) -> None:
        """The payer pays at the sandbox; when its callback did not get through (the payments
        service or its database down), the PSP calls back again until it does."""
        token = redirect_url.rstrip("/").rsplit("/", 1)[-1]

        async def paid() -> bool | None:
            answer = await self.sandbox.post(redirect_url, json={"outcome": "paid"})
            if answer.status_code == 409:  # paid already: its callback failed before
                self.callbacks_repeated += 1
                return await call_back_again(self.sandbox, token) or None
            answer.raise_for_status()
            callbacks = [int(c) for c in answer.json().get("callbacks", [])]
            if callbacks and all(200 <= c < 300 for c in callbacks):
                return True
            self.callbacks_repeated += 1
            return await call_back_again(self.sandbox, token) or None

        await self.reader.until("pay", paid, self.bounds.step_s, "callback never taken")

    async def _refunded(self, plan: Plan) -> None:
        async def completed() -> int | None:
            total = await refunded_total(self.reader, self.driver, plan.escrow_id)
            return total if total == plan.refunded_to_employer else None

        await self.reader.until("refund", completed, self.bounds.step_s, "refund not completed")

    async def _wallet(self, plan: Plan, balance: int) -> None:
        await self._until(
            "credit",
            ("payments", f"/wallets/{plan.contractor}"),
            f"wallet not {balance}",
            lambda body: int(body["balances"].get(CURRENCY, 0)) == balance,
        )

    async def _payout(self, plan: Plan, contractor: Actor) -> None:
        await self._ok(
            "payout",
            RequestPayout(
                actor=contractor,
                payout_id=plan.payout_id,
                amount=plan.contractor_net,
                currency=CURRENCY,
                iban=SHEBA,
            ),
        )
        await self._until(
            "payout",
            ("payments", f"/payouts/{plan.payout_id}"),
            "payout not completed",
            lambda body: body.get("status") == "completed",
        )
        await self._wallet(plan, 0)

    async def _dispute(self, plan: Plan, state: str) -> None:
        await self._until(
            f"dispute {state}",
            ("disputes", f"/disputes/{plan.dispute_id}"),
            f"dispute not {state}",
            lambda body: body.get("dispute", body).get("state") == state,
        )

    async def _open_dispute(self, plan: Plan, opener: Actor) -> None:
        await self._ok_once_it_knows(
            "dispute",
            disputes.OpenDispute(
                actor=opener,
                dispute_id=plan.dispute_id,
                escrow_id=plan.escrow_id,
                reason="not_released" if opener.role is Role.CONTRACTOR else "quality",
                statement="Opened by the chaos harness.",
            ),
        )
        await self._state(plan, "disputed")
        await self._dispute(plan, "negotiation")

    async def _verdict(self, plan: Plan, contractor: Actor) -> None:
        await self._open_dispute(plan, contractor)
        did = plan.dispute_id
        await self._ok("escalate", disputes.EscalateDispute(actor=contractor, dispute_id=did))
        await self._dispute(plan, "arbitration")
        await self._ok(
            "assign",
            disputes.AssignArbiter(actor=ADMIN, dispute_id=did, arbiter_id=ARBITER.user_id),
        )
        await self._until(
            "assigned",
            ("disputes", f"/disputes/{did}"),
            "arbiter not assigned",
            lambda body: body.get("dispute", body).get("arbiter_id") == ARBITER.user_id,
        )
        await self._ok(
            "verdict",
            disputes.IssueVerdict(
                actor=ARBITER,
                dispute_id=did,
                contractor_amount=plan.part,
                employer_amount=plan.amount - plan.part,
            ),
        )
        await self._state(plan, "settled")
        await self._dispute(plan, "closed")
        await self._refunded(plan)

    async def _withdrawn(self, plan: Plan, employer: Actor) -> None:
        await self._open_dispute(plan, employer)
        await self._ok(
            "withdraw", disputes.WithdrawDispute(actor=employer, dispute_id=plan.dispute_id)
        )
        await self._dispute(plan, "withdrawn")
        await self._state(plan, "delivered")


async def refunded_total(reader: Reader, driver: ChaosDriver, escrow_id: str) -> int:
    """The completed refunds of an escrow's payments, read one by one from the read API (their
    ids as `refund-completed` named them)."""
    total = 0
    for refund_id in sorted(driver.refunds.get(escrow_id, ())):
        found = await reader.get("payments", f"/refunds/{refund_id}")
        if found is not None and found.get("status") == "completed":
            total += int(found["amount"])
    return total
