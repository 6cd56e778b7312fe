"""Posting to the ledger: once per key, and never from an account that does not hold the money."""

from datetime import datetime

from payments.adapters.repository import Repository
from payments.domain import ledger
from payments.domain.errors import LedgerInconsistency


async def post(repo: Repository, transaction: ledger.Transaction, now: datetime) -> bool:
    """Post `transaction`; False if its key was already posted (a replay changes nothing).

    Debited accounts with a running balance (a wallet, an escrow's holding) are locked in a
    fixed order (no deadlock between two postings) and must hold what leaves them. The shared
    accounts keep none and are not checked here (`ledger.has_running_balance` says why).
    """
    guarded = sorted(
        (key, amount)
        for key, amount in transaction.outflows().items()
        if ledger.has_running_balance(key[0])
    )
    for (account, currency), _ in guarded:
        await repo.lock_account(account, currency)
    if await repo.is_posted(transaction.key):
        return False
    for (account, currency), amount in guarded:
        held = await repo.balance(account, currency)
        if held < amount:
            raise LedgerInconsistency(
                f"{transaction.key}: {account} holds {held} {currency}, cannot pay {amount}"
            )
    return await repo.post(transaction, now)
