"""No payment left open: a payment whose callback never came is asked of its gateway.

The payer may close the browser at the bank's page, or the callback may be lost on its way. From
`next_inquiry_at` on (`PAYMENT_INQUIRY_AFTER_S` after the payment opened), the inquiry worker
asks the payment's gateway what happened (Zarinpal's inquiry then verify, Stripe's retrieve):
paid is recorded as received (with the gateway's fee), failed as failed, and a payment the payer
may still complete is asked again every `PAYMENT_INQUIRY_EVERY_S`. Each round also takes the
gateways' own lists of sessions paid and not yet verified (Zarinpal's unVerified), so money that
arrived is recorded however long before its inquiry would fall due.

Like the transfer workers, a round claims payments (pushing their next inquiry on, under a
skip-locked row lock, so two replicas do not ask about the same payment at once), calls the
gateway outside any transaction, then records the answer under the payment's row lock; recording
is the same `Payment.settle` a callback goes through, so a callback and an inquiry that race
settle the payment once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared.messaging.outbox import stage
from shared.messaging.runtime import outgoing

from payments import metrics
from payments.adapters.repository import Repository
from payments.domain.errors import CallbackRejected
from payments.domain.gateway import GatewayError
from payments.domain.payment import Payment
from payments.service_layer.causation import followed
from payments.service_layer.dependencies import Dependencies
from payments.service_layer.posting import post

log = logging.getLogger(__name__)


@dataclass
class InquiryWorker:
    deps: Dependencies
    batch_size: int

    async def run_once(self) -> object:
        """One round: the gateways' unverified sessions, then the payments due an inquiry;
        returns when the next inquiry falls due."""
        for payment in await self._unverified():
            await self._inquire(payment)
        claimed = await self._claim()
        for payment in claimed:
            await self._inquire(payment)
        if len(claimed) == self.batch_size:
            return self.deps.clock.now()  # a full batch: more may be due
        async with self.deps.db.transaction() as session:
            return await Repository(session).next_inquiry_due()

    async def _unverified(self) -> list[Payment]:
        found: list[Payment] = []
        for gateway in self.deps.gateways.by_name.values():
            try:
                tokens = await gateway.unverified()
            except GatewayError as exc:
                log.warning("could not list %s's unverified sessions: %s", gateway.name, exc)
                continue
            async with self.deps.db.transaction() as session:
                repo = Repository(session)
                for token in tokens[: self.batch_size]:
                    payment = await repo.payment_by_token(gateway.name, token)
                    if payment is not None and not payment.settled:
                        found.append(payment)
        return found

    async def _claim(self) -> list[Payment]:
        now = self.deps.clock.now()
        again = now + self.deps.settings.payment_inquiry_every
        async with self.deps.db.transaction() as session:
            return await Repository(session).claim_inquiries(now, again, self.batch_size)

    async def _inquire(self, payment: Payment) -> None:
        gateway = self.deps.gateways.by_name.get(payment.gateway)
        if gateway is None or payment.session_token is None:
            log.error(
                "payment %s: its gateway %s is not configured", payment.payment_id, payment.gateway
            )
            return
        try:
            verification = await gateway.inquire(
                payment.session_token, payment.amount, payment.currency
            )
        except (GatewayError, CallbackRejected) as exc:
            # asked again at its next inquiry (the claim moved it on)
            log.warning("inquiry of payment %s at %s: %s", payment.payment_id, gateway.name, exc)
            return
        now = self.deps.clock.now()
        async with self.deps.db.transaction() as session:
            repo = Repository(session)
            locked = await repo.get_payment(payment.payment_id, lock=True)
            if locked is None or locked.settled:
                return  # a callback settled it meanwhile
            try:
                transactions = locked.inquired(
                    verification, now=now, again_after=self.deps.settings.payment_inquiry_every
                )
            except CallbackRejected as exc:  # the gateway's answer is not this payment's
                log.error("inquiry of payment %s refused: %s", payment.payment_id, exc)
                return
            for transaction in transactions:
                await post(repo, transaction, now)
            await repo.save_payment(locked)
            cause = followed(locked)
            await stage(
                session,
                [outgoing(e, signer=self.deps.signer, cause=cause) for e in locked.events],
            )
        if locked.events:
            self.deps.nudge()
            metrics.count("payment", locked.status.value, locked.currency, locked.amount)
            log.info(
                "payment %s %s at %s (inquiry)", locked.payment_id, locked.status, gateway.name
            )
