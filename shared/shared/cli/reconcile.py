"""`escrowctl reconcile`: does every rial the gateway brought in stand somewhere, exactly?

Per currency, from the services' read APIs only (never their databases):

    received from the gateway  ==  held in escrow (the escrow service's ledger)
                                   + wallet balances + paid out + refunded + platform fees
                                   + in flight (payouts and refunds under way)

Everything but "held" comes from the payments service; "held" comes from the escrow service, so
money the two services disagree about shows up as a difference. Two cross-checks are printed
beside it: the payments service's view of escrowed money, and the fees both services charged.

What the gateways kept of payments as their fee (Zarinpal's merchant fee, Stripe's) is printed
beside the books, not in them: the platform bears it (an escrow is funded with the whole amount
paid), so it is an expense, and less than `received` is at the gateways. It is checked to be
booked the same on both sides of the payments ledger.

Beside the books, the gateways' own word: payments' `/reconciliation/gateways` compares what
each gateway says it took in the last day (the sandbox's and Stripe's complete listings,
Zarinpal's unVerified) with the payments recorded, and names each payment that differs: money a
gateway took for a payment the suite never received (a callback lost while payments was down),
another amount, or (for a complete listing) a payment received that the gateway did not settle.
Any of them, or a gateway that could not be read, fails the reconciliation as a difference in
the books does.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import typer
from prometheus_client import Gauge, start_http_server

from shared.cli.config import CliConfig
from shared.contract.base import Role

DIFFERENCE = Gauge(
    "escrow_suite_reconciliation_difference",
    "Money received minus money accounted for, per currency (0 when the books agree)",
    ["currency"],
)
GATEWAY_DIFFERENCES = Gauge(
    "escrow_suite_reconciliation_gateway_differences",
    "Payments whose record differs from their gateway's own listing (0 when they agree; left "
    "as it was while the gateway cannot be read)",
    ["gateway"],
)


@dataclass(frozen=True)
class Books:
    """One currency's figures, in minor units."""

    currency: str
    received: int
    held_in_escrow: int
    wallets: int
    paid_out: int
    refunded: int
    fees: int
    in_flight: int
    escrowed_per_payments: int
    fees_per_escrow: int
    #: payments' own checks: transactions that do not balance, running balances that are not
    #: the sum of their entries
    unbalanced: int = 0
    drifted: int = 0
    #: what gateways kept as their fee (the platform's expense), and the same read from the
    #: gateway side of the ledger
    gateway_fees: int = 0
    gateway_fees_at_gateway: int = 0

    @property
    def difference(self) -> int:
        accounted = (
            self.held_in_escrow
            + self.wallets
            + self.paid_out
            + self.refunded
            + self.fees
            + self.in_flight
        )
        return self.received - accounted

    @property
    def mismatches(self) -> list[str]:
        found = []
        if self.difference:
            found.append(f"{self.difference:+,} received but not accounted for")
        if self.escrowed_per_payments != self.held_in_escrow:
            found.append("payments and escrow disagree on the money in escrow")
        if self.fees_per_escrow != self.fees:
            found.append("payments and escrow disagree on the platform fees")
        if self.gateway_fees != self.gateway_fees_at_gateway:
            found.append("the gateway fees booked and those at the gateway disagree")
        if self.unbalanced:
            found.append(f"{self.unbalanced} ledger transaction(s) in payments do not balance")
        if self.drifted:
            found.append(f"{self.drifted} running balance(s) in payments drifted from the ledger")
        return found


def books(escrow_totals: dict[str, Any], payments_totals: dict[str, Any]) -> list[Books]:
    """Combine the two services' `/ledger/totals` answers into one set of books per currency."""
    escrow = escrow_totals.get("currencies", {})
    payments = payments_totals.get("currencies", {})
    unbalanced = Counter(t["currency"] for t in payments_totals.get("unbalanced_transactions", []))
    drifted = Counter(d["currency"] for d in payments_totals.get("drifted_balances", []))
    found = []
    for currency in sorted(set(escrow) | set(payments) | set(unbalanced) | set(drifted)):
        accounts = payments.get(currency, {}).get("accounts", {})
        gateway = payments.get(currency, {}).get("gateway", {})
        found.append(
            Books(
                currency=currency,
                received=gateway.get("escrow_funding", 0) + gateway.get("direct_payment", 0),
                held_in_escrow=escrow.get(currency, {}).get("escrow", 0),
                wallets=accounts.get("wallet", 0),
                paid_out=-gateway.get("payout_completed", 0),
                refunded=-gateway.get("refund_completed", 0),
                fees=accounts.get("platform:fees", 0),
                in_flight=accounts.get("payouts-in-flight", 0)
                + accounts.get("refunds-in-flight", 0),
                escrowed_per_payments=accounts.get("escrow-holding", 0),
                fees_per_escrow=escrow.get(currency, {}).get("platform", 0),
                unbalanced=unbalanced[currency],
                drifted=drifted[currency],
                gateway_fees=-accounts.get("gateway-fees", 0),
                gateway_fees_at_gateway=-gateway.get("gateway_fee", 0),
            )
        )
    return found


COLUMNS = [
    ("received", "received"),
    ("held in escrow", "held_in_escrow"),
    ("wallets", "wallets"),
    ("paid out", "paid_out"),
    ("refunded", "refunded"),
    ("fees", "fees"),
    ("in flight", "in_flight"),
    ("difference", "difference"),
    ("gateway fees", "gateway_fees"),
]


def table(all_books: list[Books]) -> str:
    header = f"{'currency':<9}" + "".join(f"{title:>18}" for title, _ in COLUMNS)
    lines = [header, "-" * len(header)]
    for book in all_books:
        lines.append(
            f"{book.currency:<9}" + "".join(f"{getattr(book, attr):>18,}" for _, attr in COLUMNS)
        )
        lines.extend(f"{'':<9}{book.currency}: {problem}" for problem in book.mismatches)
    if not all_books:
        lines.append("(no money has moved yet)")
    return "\n".join(lines)


@dataclass(frozen=True)
class GatewayCheck:
    """One gateway's listing beside the payments recorded, as payments compared them."""

    gateway: str
    complete: bool = False
    truncated: bool = False
    #: currency → {"count", "amount"}: what the gateway listed, and what of it the suite holds
    settled: dict[str, dict[str, int]] = field(default_factory=dict)
    matched: dict[str, dict[str, int]] = field(default_factory=dict)
    differences_count: int = 0
    #: the differing payments named (at most payments' DIFFERENCES_LISTED)
    differences: tuple[dict[str, Any], ...] = ()
    #: why the gateway could not be read (then nothing is known of it)
    error: str | None = None

    @property
    def mismatches(self) -> list[str]:
        if self.error is not None:
            return [f"could not be read: {self.error}"]
        found = [_named(difference) for difference in self.differences]
        unnamed = self.differences_count - len(self.differences)
        if unnamed > 0:
            found.append(f"… and {unnamed} more payment(s) that differ")
        return found


def _named(difference: dict[str, Any]) -> str:
    payment = difference.get("payment_id") or "no payment here"
    mine, theirs = difference.get("recorded"), difference.get("settled")
    ours = f"{mine['status']} {mine['amount']:,} {mine['currency']}" if mine else "unknown"
    at_gateway = f"{theirs['amount']:,} {theirs['currency']}" if theirs else "nothing"
    return (
        f"{difference['kind']}: {payment} (reference {difference['reference']}): "
        f"recorded {ours}, gateway settled {at_gateway}"
    )


def gateway_checks(answer: dict[str, Any]) -> list[GatewayCheck]:
    """payments' `/reconciliation/gateways` answer, one check per gateway."""
    return [
        GatewayCheck(
            gateway=name,
            complete=bool(found.get("complete", False)),
            truncated=bool(found.get("truncated", False)),
            settled=found.get("settled", {}),
            matched=found.get("matched", {}),
            differences_count=int(found.get("differences_count", 0)),
            differences=tuple(found.get("differences", [])),
            error=found.get("error"),
        )
        for name, found in sorted(answer.get("gateways", {}).items())
    ]


def gateway_table(checks: list[GatewayCheck]) -> str:
    header = (
        f"{'gateway':<10}{'listing':<12}{'currency':<9}"
        f"{'settled':>10}{'amount':>18}{'matched':>10}{'amount':>18}"
    )
    lines = [header, "-" * len(header)]
    for check in checks:
        listing = "unreadable" if check.error else "complete" if check.complete else "partial"
        if check.truncated:
            listing = "cut short"
        currencies = sorted(set(check.settled) | set(check.matched)) or ["-"]
        for currency in currencies:
            settled = check.settled.get(currency, {})
            matched = check.matched.get(currency, {})
            lines.append(
                f"{check.gateway:<10}{listing:<12}{currency:<9}"
                f"{settled.get('count', 0):>10,}{settled.get('amount', 0):>18,}"
                f"{matched.get('count', 0):>10,}{matched.get('amount', 0):>18,}"
            )
        lines.extend(f"{'':<10}{check.gateway}: {problem}" for problem in check.mismatches)
    if not checks:
        lines.append("(no gateway is configured)")
    return "\n".join(lines)


def _read(config: CliConfig, service: str, path: str, timeout: float = 10) -> dict[str, Any]:
    base = config.services.get(service)
    if not base:
        raise typer.BadParameter(f"where {service} listens is unknown: start `make run`")
    answer = httpx.get(f"{base}{path}", timeout=timeout, auth=config.reading(Role.OPERATOR))
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def fetch_gateways(config: CliConfig) -> list[GatewayCheck]:
    """The gateways' listings beside payments' records (payments lets each gateway take up to
    a minute, all at once: wait longer than that)."""
    return gateway_checks(_read(config, "payments", "/reconciliation/gateways", timeout=90))


def fetch(config: CliConfig) -> list[Books]:
    return books(
        _read(config, "escrow", "/ledger/totals"), _read(config, "payments", "/ledger/totals")
    )


def reconcile(
    every: float = typer.Option(0, help="repeat every N seconds, exposing the metric"),
    metrics_port: int = typer.Option(
        0,
        help="serve escrow_suite_reconciliation_difference and "
        "escrow_suite_reconciliation_gateway_differences",
    ),
) -> None:
    """Check, per currency, that every unit received is held, in a wallet, paid out, refunded,
    a fee or in flight, and that every payment a gateway settled is recorded as it settled it;
    print the books and the gateways' listings and exit 1 on any difference."""
    if metrics_port:
        start_http_server(metrics_port)
    while True:
        try:
            config = CliConfig.load()
            found = fetch(config)
            checks = fetch_gateways(config)
        except (httpx.HTTPError, ValueError) as exc:
            if every <= 0:
                raise
            # A service restarting must not restart the reconciler: try again next round.
            typer.echo(f"could not read the books: {exc}", err=True)
            time.sleep(every)
            continue
        for book in found:
            DIFFERENCE.labels(book.currency).set(book.difference)
        for check in checks:
            if check.error is None:
                GATEWAY_DIFFERENCES.labels(check.gateway).set(check.differences_count)
        typer.echo(table(found))
        typer.echo("")
        typer.echo(gateway_table(checks))
        if every <= 0:
            if any(book.mismatches for book in found) or any(c.mismatches for c in checks):
                raise typer.Exit(1)
            return
        time.sleep(every)
