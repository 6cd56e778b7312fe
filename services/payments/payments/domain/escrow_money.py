"""What the escrow service's money decisions mean for this ledger.

`escrow-released` and `escrow-settled` move money from the escrow's holding account to the
contractor's wallet (net) and the platform (fee); the employer's share of a settlement, an
`escrow-refunded` and a `funding-rejected` move it to `refunds-in-flight`, from where a refund
sends it back to the original payment. Each transaction's key is the escrow version (or the
payment) it comes from, so the same decision is never applied twice.
"""

from payments.domain import ledger
from payments.domain.errors import LedgerInconsistency


def _check_split(gross: int, fee: int, net: int) -> None:
    if min(gross, fee, net) < 0 or gross != fee + net:
        raise LedgerInconsistency(f"gross {gross} is not fee {fee} + net {net}")


def release(
    escrow_id: str, version: int, contractor_id: str, currency: str, split: tuple[int, int, int]
) -> ledger.Transaction:
    gross, fee, net = split
    _check_split(gross, fee, net)
    return ledger.transaction(
        f"escrow-released:{escrow_id}:{version}",
        ledger.TransactionKind.RELEASE,
        currency,
        *ledger.moves(
            ledger.escrow_holding(escrow_id),
            gross,
            (ledger.wallet(contractor_id), net),
            (ledger.PLATFORM_FEES, fee),
        ),
    )


def settlement(
    escrow_id: str,
    version: int,
    contractor_id: str,
    currency: str,
    contractor_split: tuple[int, int, int],
    employer_amount: int,
) -> ledger.Transaction:
    """Everything held leaves at once: the contractor's share less its fee, the employer's all."""
    gross, fee, net = contractor_split
    _check_split(gross, fee, net)
    if employer_amount < 0:
        raise LedgerInconsistency(f"negative employer share {employer_amount}")
    return ledger.transaction(
        f"escrow-settled:{escrow_id}:{version}",
        ledger.TransactionKind.SETTLEMENT,
        currency,
        *ledger.moves(
            ledger.escrow_holding(escrow_id),
            gross + employer_amount,
            (ledger.wallet(contractor_id), net),
            (ledger.PLATFORM_FEES, fee),
            (ledger.REFUNDS_IN_FLIGHT, employer_amount),
        ),
    )


def refund_reserved(key: str, escrow_id: str, currency: str, amount: int) -> ledger.Transaction:
    """An escrow refund or a rejected funding: the money leaves the escrow for the payer."""
    return ledger.transaction(
        key,
        ledger.TransactionKind.REFUND_REQUESTED,
        currency,
        *ledger.moves(ledger.escrow_holding(escrow_id), amount, (ledger.REFUNDS_IN_FLIGHT, amount)),
    )


def refund_id(key: str) -> str:
    """The refund a transaction causes is named after it, so a replay finds the same refund."""
    return f"refund:{key}"
