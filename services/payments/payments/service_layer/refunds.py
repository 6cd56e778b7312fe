"""Refunds of an employer's original payment: opened by `escrow-refunded`, the employer share of
`escrow-settled` and `funding-rejected`; retried by the refund worker; re-queued by an operator's
`RetryRefund` once its automatic retries ran out."""

from __future__ import annotations

from datetime import datetime

from shared.contract.base import Role
from shared.contract.envelope import Cause
from shared.contract.escrow import EscrowRefunded, FundingRejected
from shared.contract.payments import RetryRefund
from shared.messaging.runtime import HandlerContext

from payments.adapters.repository import Repository
from payments.domain import escrow_money
from payments.domain.errors import Forbidden, LedgerInconsistency, NotFound
from payments.domain.payment import Payment, PaymentStatus
from payments.domain.refund import Refund, RefundCause
from payments.service_layer.causation import follow
from payments.service_layer.dependencies import Dependencies
from payments.service_layer.posting import post


async def original_payment(repo: Repository, payment_id: str | None, escrow_id: str) -> Payment:
    """The received payment that funded the escrow (by its id, else by the escrow)."""
    payment = await repo.get_payment(payment_id) if payment_id else None
    payment = payment or await repo.received_payment_for_escrow(escrow_id)
    if payment is None or payment.status is not PaymentStatus.RECEIVED:
        raise LedgerInconsistency(f"no received payment {payment_id} for escrow {escrow_id}")
    if payment.escrow_id != escrow_id:
        raise LedgerInconsistency(f"payment {payment.payment_id} did not fund escrow {escrow_id}")
    return payment


async def open_refund(
    repo: Repository,
    payment: Payment,
    *,
    key: str,
    amount: int,
    cause: RefundCause,
    now: datetime,
    following: Cause | None,
) -> Refund:
    """Queue a refund for the money `key` put in flight; never more than was paid."""
    refunded = await repo.refunded_total(payment.payment_id)
    if refunded + amount > payment.amount:
        raise LedgerInconsistency(
            f"refunding {amount} more of payment {payment.payment_id} ({payment.amount}, "
            f"{refunded} refunded already) would return more than was paid"
        )
    assert payment.session_token is not None
    refund = Refund(
        refund_id=escrow_money.refund_id(key),
        payment_id=payment.payment_id,
        employer_id=payment.payer_id,
        amount=amount,
        currency=payment.currency,
        cause=cause,
        escrow_id=payment.escrow_id,
        payment_gateway=payment.gateway,
        payment_token=payment.session_token,
        payment_reference=payment.reference,
        next_attempt_at=now,
    )
    follow(refund, following)
    await repo.add_refund(refund)
    return refund


async def refund_from_escrow(
    repo: Repository,
    payment: Payment,
    *,
    key: str,
    escrow_id: str,
    amount: int,
    cause: RefundCause,
    now: datetime,
    following: Cause | None,
) -> None:
    """Take `amount` out of the escrow's holding and start refunding it to the payer, once:
    the posting's key makes a redelivered event a no-op."""
    transaction = escrow_money.refund_reserved(key, escrow_id, payment.currency, amount)
    if await post(repo, transaction, now):
        await open_refund(
            repo, payment, key=key, amount=amount, cause=cause, now=now, following=following
        )


async def escrow_refunded(event: EscrowRefunded, ctx: HandlerContext, deps: Dependencies) -> None:
    escrow, repo = event.escrow, Repository(ctx.session)
    payment = await original_payment(repo, escrow.payment_id, escrow.escrow_id)
    ctx.after_commit(deps.refunds_due.ring)
    await refund_from_escrow(
        repo,
        payment,
        key=f"escrow-refunded:{escrow.escrow_id}:{escrow.version}",
        escrow_id=escrow.escrow_id,
        amount=event.amount,
        cause="escrow_refunded",
        now=ctx.clock.now(),
        following=ctx.cause,
    )


async def funding_rejected(event: FundingRejected, ctx: HandlerContext, deps: Dependencies) -> None:
    """The whole payment goes back, as this service recorded it (not as the event says)."""
    repo = Repository(ctx.session)
    payment = await original_payment(repo, event.payment_id, event.escrow_id)
    ctx.after_commit(deps.refunds_due.ring)
    await refund_from_escrow(
        repo,
        payment,
        key=f"funding-rejected:{payment.payment_id}",
        escrow_id=event.escrow_id,
        amount=payment.amount,
        cause="funding_rejected",
        now=ctx.clock.now(),
        following=ctx.cause,
    )


async def retry_refund(command: RetryRefund, ctx: HandlerContext, deps: Dependencies) -> str:
    if command.actor.role is not Role.ADMIN:
        raise Forbidden("only an operator retries a refund")
    repo = Repository(ctx.session)
    refund = await repo.get_transfer(Refund, command.refund_id, lock=True)
    if refund is None:
        raise NotFound(f"no refund {command.refund_id}")
    refund.retry_by_operator(ctx.clock.now())
    await repo.save_transfer(refund)
    ctx.after_commit(deps.refunds_due.ring)
    return refund.refund_id
