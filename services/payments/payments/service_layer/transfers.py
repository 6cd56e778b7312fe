"""The payout and refund workers: background loops over the due-time of pending transfers.

One round claims due transfers (counting the attempt and leasing the row, in its own short
transaction), calls the gateway outside any transaction, then records the outcome under a row
lock. State lives in the database, so a restarted service picks up where the old one stopped;
the gateway request is idempotent on the transfer id, so re-sending never pays twice.

The lease is short and renewed while the gateway call runs (every third of it), so a claim of a
killed process is taken over within one lease, not after the longest call the gateway may take.
A call cut short by a drain (SIGTERM past the graceful timeout) gives its claim back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from shared.messaging.outbox import stage
from shared.messaging.runtime import outgoing

from payments import metrics
from payments.adapters.repository import Repository
from payments.domain.gateway import (
    GatewayError,
    GatewayUnavailable,
    Transfer,
    TransferInProgress,
)
from payments.domain.ledger import Transaction
from payments.domain.payout import Payout
from payments.domain.refund import Refund
from payments.domain.retry import RetrySchedule
from payments.domain.transfer import OutgoingTransfer, TransferStatus
from payments.service_layer.causation import followed
from payments.service_layer.dependencies import Dependencies
from payments.service_layer.posting import post

log = logging.getLogger(__name__)

T = TypeVar("T", Payout, Refund)


@dataclass
class TransferWorker(Generic[T]):
    kind: type[T]
    flow: str  # "payout" or "refund", for metrics and logs
    deps: Dependencies
    schedule: RetrySchedule
    lease: timedelta
    batch_size: int
    #: how long a transfer the PSP has under way waits before it is asked about again
    poll_delay: timedelta

    async def run_once(self) -> datetime | None:
        """Attempt up to a batch of due transfers; returns when the next one falls due."""
        attempted = 0
        # One claim at a time: a shutdown mid-round leaves at most one lease to run out.
        while attempted < self.batch_size and (claimed := await self._claim()) is not None:
            await self._attempt(claimed)
            attempted += 1
        if attempted == self.batch_size:
            return self.deps.clock.now()  # a full batch: more may be due
        async with self.deps.db.transaction() as session:
            return await Repository(session).next_transfer_due(self.kind)

    async def _claim(self) -> T | None:
        now = self.deps.clock.now()
        async with self.deps.db.transaction() as session:
            repo = Repository(session)
            for transfer in await repo.claim_due(self.kind, now, limit=1):
                transfer.claim(now, self.lease)
                await repo.save_transfer(transfer)
                return transfer
        return None

    async def _attempt(self, claimed: T) -> None:
        answered = asyncio.Event()
        renewing = asyncio.create_task(self._keep_lease(claimed, answered))
        try:
            reference: str | None = await self._send(claimed)
            error: GatewayError | None = None
        except GatewayError as exc:
            reference, error = None, exc
        except asyncio.CancelledError:
            answered.set()
            await asyncio.shield(self._give_back(claimed, renewing))
            raise
        except Exception as exc:  # an adapter bug is an unknown outcome, never a "not paid"
            log.exception("%s %s: unexpected gateway error", self.flow, claimed.transfer_id)
            reference, error = None, GatewayUnavailable(repr(exc))
        answered.set()
        await renewing  # a renewal under way ends before the outcome takes the row's lock
        settled = await self._record(claimed, reference, error)
        if settled is not None and settled.status is not TransferStatus.PENDING:
            self.deps.nudge()
            metrics.count(self.flow, settled.status.value, settled.currency, settled.amount)

    async def _keep_lease(self, claimed: T, answered: asyncio.Event) -> None:
        """Renew the claim while the gateway call runs; a failed renewal (the database away) is
        tried again next time: at worst the lease runs out and another round re-sends."""
        every = self.lease.total_seconds() / 3
        while not answered.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(answered.wait(), every)
                return
            try:
                await self._lease_until(claimed, self.deps.clock.now() + self.lease)
            except Exception:
                log.warning(
                    "%s %s: lease not renewed", self.flow, claimed.transfer_id, exc_info=True
                )

    async def _give_back(self, claimed: T, renewing: asyncio.Task[None]) -> None:
        """The call was cut short (a drain ran out of time): its outcome is unknown, and the
        idempotent re-send is the next round's, at once, not after the lease."""
        await asyncio.gather(renewing, return_exceptions=True)
        try:
            await self._lease_until(claimed, self.deps.clock.now())
            log.info("%s %s: call cut short; claim given back", self.flow, claimed.transfer_id)
        except Exception:
            log.warning(
                "%s %s: claim not given back", self.flow, claimed.transfer_id, exc_info=True
            )

    async def _lease_until(self, claimed: T, until: datetime) -> None:
        async with self.deps.db.transaction() as session:
            repo = Repository(session)
            current = await repo.get_transfer(self.kind, claimed.transfer_id, lock=True)
            if _still_ours(current, claimed):
                assert current is not None
                current.next_attempt_at = until
                await repo.save_transfer(current)

    async def _send(self, transfer: T) -> str:
        """A payout leaves through the gateway chosen when it was requested; a refund goes back
        through the gateway its payment was taken at."""
        name = transfer.gateway if isinstance(transfer, Payout) else transfer.payment_gateway
        gateway = self.deps.gateways.by_name.get(name)
        if gateway is None:  # not built here (credentials removed): retried, never given up
            raise GatewayUnavailable(f"gateway {name} is not configured in this deployment")
        if isinstance(transfer, Payout):
            return await gateway.payout(
                Transfer(
                    transfer.payout_id,
                    transfer.amount,
                    transfer.currency,
                    transfer.iban,
                    account=transfer.payout_account,
                )
            )
        return await gateway.refund(
            Transfer(
                transfer.refund_id,
                transfer.amount,
                transfer.currency,
                transfer.payment_token,
                payment_reference=transfer.payment_reference,
            )
        )

    async def _record(
        self, claimed: T, reference: str | None, error: GatewayError | None
    ) -> T | None:
        now = self.deps.clock.now()
        async with self.deps.db.transaction() as session:
            repo = Repository(session)
            current = await repo.get_transfer(self.kind, claimed.transfer_id, lock=True)
            if not _still_ours(current, claimed):
                return None  # our lease ran out and another round moved on
            assert current is not None
            transaction: Transaction | None = None
            if reference is not None:
                transaction = current.succeeded(reference)
            elif isinstance(error, TransferInProgress):
                current.in_progress(str(error), now=now, poll_delay=self.poll_delay)
            else:
                assert error is not None
                log.warning(
                    "%s %s attempt %d failed: %s",
                    self.flow,
                    current.transfer_id,
                    current.attempts,
                    error,
                )
                transaction = current.attempt_failed(
                    str(error), definitive=error.definitive, now=now, schedule=self.schedule
                )
            if transaction is not None:
                await post(repo, transaction, now)
            await repo.save_transfer(current)
            cause = followed(current)
            await stage(
                session,
                [outgoing(e, signer=self.deps.signer, cause=cause) for e in current.events],
            )
        return current


def _still_ours(current: OutgoingTransfer | None, claimed: OutgoingTransfer) -> bool:
    return (
        current is not None
        and current.status is TransferStatus.PENDING
        and current.attempts == claimed.attempts
    )
