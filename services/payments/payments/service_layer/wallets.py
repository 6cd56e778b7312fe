"""Released and settled escrow money reaches wallets: the contractor's net, the platform's fee.

The employer's share of a settlement goes back to his original payment as a refund, in the same
ledger transaction (one escrow version, one posting).
"""

from shared.contract.escrow import EscrowReleased, EscrowSettled
from shared.messaging.runtime import HandlerContext

from payments.adapters.repository import Repository
from payments.domain import escrow_money
from payments.service_layer.dependencies import Dependencies
from payments.service_layer.posting import post
from payments.service_layer.refunds import open_refund, original_payment


async def escrow_released(event: EscrowReleased, ctx: HandlerContext, deps: Dependencies) -> None:
    escrow = event.escrow
    transaction = escrow_money.release(
        escrow.escrow_id,
        escrow.version,
        escrow.contractor_id,
        escrow.currency,
        (event.gross, event.fee, event.net),
    )
    await post(Repository(ctx.session), transaction, ctx.clock.now())


async def escrow_settled(event: EscrowSettled, ctx: HandlerContext, deps: Dependencies) -> None:
    escrow, repo = event.escrow, Repository(ctx.session)
    payment = None
    if event.employer_amount:
        # Found before anything is posted: a share with no payment to return to is refused whole.
        payment = await original_payment(repo, escrow.payment_id, escrow.escrow_id)
    transaction = escrow_money.settlement(
        escrow.escrow_id,
        escrow.version,
        escrow.contractor_id,
        escrow.currency,
        (event.contractor_amount, event.fee, event.contractor_net),
        event.employer_amount,
    )
    if not await post(repo, transaction, ctx.clock.now()) or payment is None:
        return
    ctx.after_commit(deps.refunds_due.ring)
    await open_refund(
        repo,
        payment,
        key=transaction.key,
        amount=event.employer_amount,
        cause="escrow_settled",
        now=ctx.clock.now(),
        following=ctx.cause,
    )
