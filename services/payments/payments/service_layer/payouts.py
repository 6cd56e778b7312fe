"""`RequestPayout`: the contractor moves wallet money towards his bank account.

The wallet is locked while its balance is read and debited, so two payouts can never both spend
the same money; the gateway is called later by the payout worker (`transfers`).
"""

from shared.contract.payments import RequestPayout
from shared.messaging.runtime import HandlerContext

from payments.adapters.repository import Repository
from payments.domain import ledger
from payments.domain.errors import AlreadyExists, UnsupportedCurrency
from payments.domain.money import check_currency
from payments.domain.payout import Payout
from payments.service_layer.causation import follow
from payments.service_layer.dependencies import Dependencies
from payments.service_layer.posting import post


async def request_payout(command: RequestPayout, ctx: HandlerContext, deps: Dependencies) -> str:
    repo = Repository(ctx.session)
    if await repo.get_transfer(Payout, command.payout_id) is not None:
        raise AlreadyExists(f"payout {command.payout_id} already exists")
    currency = check_currency(command.currency, deps.settings.accepted_currencies)
    gateway = deps.gateways.for_payout(currency)
    if gateway is None:
        raise UnsupportedCurrency(f"no gateway pays out {currency} here")
    wallet = ledger.wallet(command.actor.user_id)
    await repo.lock_account(wallet, currency)
    payout, reservation = Payout.request(
        command,
        balance=await repo.balance(wallet, currency),
        gateway=gateway.name,
    )
    payout.next_attempt_at = ctx.clock.now()
    follow(payout, ctx.cause)
    await post(repo, reservation, ctx.clock.now())
    await repo.add_payout(payout)
    ctx.after_commit(deps.payouts_due.ring)
    return payout.payout_id
