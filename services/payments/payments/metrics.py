"""The payments service's business metrics, beside the runtime's (shared.metrics).

Counters are incremented after the transaction that records the fact commits, so a rolled-back
attempt is never counted; amounts are in the currency's smallest unit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Counter, Gauge, Histogram

from payments.domain.gateway import TransferInProgress

PREFIX = "escrow_suite"

PAYMENTS = Counter(f"{PREFIX}_payments_total", "Payments by status", ["status", "currency"])
PAYMENT_AMOUNT = Counter(
    f"{PREFIX}_payment_amount_total", "Money in payments by status", ["status", "currency"]
)
PAYOUTS = Counter(f"{PREFIX}_payouts_total", "Payouts by status", ["status", "currency"])
PAYOUT_AMOUNT = Counter(
    f"{PREFIX}_payout_amount_total", "Money in payouts by status", ["status", "currency"]
)
REFUNDS = Counter(f"{PREFIX}_refunds_total", "Refunds by status", ["status", "currency"])
REFUND_AMOUNT = Counter(
    f"{PREFIX}_refund_amount_total", "Money in refunds by status", ["status", "currency"]
)
WALLET_BALANCE = Gauge(f"{PREFIX}_wallet_balance_total", "Sum of all wallet balances", ["currency"])
GATEWAY_SECONDS = Histogram(
    f"{PREFIX}_gateway_call_seconds", "Gateway call latency", ["gateway", "operation"]
)
GATEWAY_ERRORS = Counter(
    f"{PREFIX}_gateway_errors_total", "Gateway calls that failed", ["gateway", "operation"]
)

_FLOWS = {
    "payment": (PAYMENTS, PAYMENT_AMOUNT),
    "payout": (PAYOUTS, PAYOUT_AMOUNT),
    "refund": (REFUNDS, REFUND_AMOUNT),
}


def count(flow: str, status: str, currency: str, amount: int) -> None:
    """One payment, payout or refund reached `status` (started, received, completed, failed…)."""
    number, money = _FLOWS[flow]
    number.labels(status, currency).inc()
    money.labels(status, currency).inc(amount)


@contextmanager
def gateway_call(gateway: str, operation: str) -> Iterator[None]:
    with GATEWAY_SECONDS.labels(gateway, operation).time():
        try:
            yield
        except TransferInProgress:
            raise  # the PSP has the transfer and is carrying it out: not an error
        except Exception:
            GATEWAY_ERRORS.labels(gateway, operation).inc()
            raise
