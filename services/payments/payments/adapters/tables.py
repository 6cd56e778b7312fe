"""The payments service's own tables (the outbox and inbox come from `shared`).

Money columns are BIGINT (amounts up to 10**15). The ledger is append-only and every transaction
balances per currency: the migration adds triggers that refuse an UPDATE or DELETE of an entry
and, at commit, any transaction whose entries do not sum to zero in each currency.

`account_balances` is the one mutable money table, by design: the running balance of each account
that keeps one (`ledger.has_running_balance`), moved in the same transaction as its entries, so a
balance is read in one row instead of summed over the account's whole history. Reconciliation
(`views.ledger_totals`) checks every row against the sum of its entries.
"""

import sqlalchemy as sa
from shared.db import new_metadata

metadata = new_metadata()

_now = sa.func.now()


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now),
    ]


def _followed_columns() -> list[sa.Column[object]]:
    """The message a row's later events follow from (`shared.contract.envelope.Followed`)."""
    return [
        sa.Column("caused_by", sa.String(128), nullable=True),
        sa.Column("correlation_id", sa.String(128), nullable=True),
    ]


payments = sa.Table(
    "payments",
    metadata,
    sa.Column("payment_id", sa.String(128), primary_key=True),
    sa.Column("purpose", sa.String(16), nullable=False),
    sa.Column("payer_id", sa.String(128), nullable=False),
    sa.Column("payee_id", sa.String(128), nullable=True),
    sa.Column("escrow_id", sa.String(128), nullable=True, index=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("gateway", sa.String(32), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("session_token", sa.String(255), nullable=True),
    sa.Column("redirect_url", sa.Text, nullable=True),
    sa.Column("reference", sa.String(255), nullable=True),
    sa.Column("failure_reason", sa.Text, nullable=True),
    sa.Column("fee", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("next_inquiry_at", sa.DateTime(timezone=True), nullable=True),
    *_followed_columns(),
    *_timestamps(),
    sa.CheckConstraint("amount > 0", name="positive_amount"),
    sa.CheckConstraint("fee >= 0 AND fee <= amount", name="fee_within_amount"),
    sa.UniqueConstraint("gateway", "session_token", name="uq_payments_gateway_session"),
    sa.Index(
        "ix_payments_inquiry_due", "next_inquiry_at", postgresql_where=sa.text("status = 'started'")
    ),
    # the received payments of a reconciliation window (`service_layer/reconciliation.py`)
    sa.Index(
        "ix_payments_received_opened",
        "gateway",
        "created_at",
        postgresql_where=sa.text("status = 'received'"),
    ),
)

ledger_transactions = sa.Table(
    "ledger_transactions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("key", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "transaction_id",
        sa.BigInteger,
        sa.ForeignKey("ledger_transactions.id"),
        nullable=False,
        index=True,
    ),
    sa.Column("account", sa.String(160), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.CheckConstraint("amount <> 0", name="nonzero_amount"),
    sa.Index("ix_ledger_entries_account_currency", "account", "currency"),
)

account_balances = sa.Table(
    "account_balances",
    metadata,
    sa.Column("account", sa.String(160), primary_key=True),
    sa.Column("currency", sa.String(3), primary_key=True),
    sa.Column("balance", sa.BigInteger, nullable=False),
)


def _transfer_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("polls", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("reference", sa.String(255), nullable=True),
        *_followed_columns(),
        *_timestamps(),
    ]


payouts = sa.Table(
    "payouts",
    metadata,
    sa.Column("payout_id", sa.String(128), primary_key=True),
    sa.Column("user_id", sa.String(128), nullable=False, index=True),
    sa.Column("iban", sa.String(255), nullable=False),  # sealed (shared.sealing)
    sa.Column("gateway", sa.String(32), nullable=False),
    sa.Column("payout_account", sa.String(64), nullable=True),
    *_transfer_columns(),
    sa.CheckConstraint("amount > 0", name="positive_amount"),
    sa.Index("ix_payouts_due", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
)

refunds = sa.Table(
    "refunds",
    metadata,
    sa.Column("refund_id", sa.String(255), primary_key=True),
    sa.Column("payment_id", sa.String(128), nullable=False, index=True),
    sa.Column("employer_id", sa.String(128), nullable=False),
    sa.Column("escrow_id", sa.String(128), nullable=True),
    sa.Column("cause", sa.String(32), nullable=False),
    sa.Column("payment_gateway", sa.String(32), nullable=False),
    sa.Column("payment_token", sa.String(255), nullable=False),
    sa.Column("payment_reference", sa.String(255), nullable=True),
    *_transfer_columns(),
    sa.CheckConstraint("amount > 0", name="positive_amount"),
    sa.Index("ix_refunds_due", "next_attempt_at", postgresql_where=sa.text("status = 'pending'")),
)

# What revision 0002 creates; `account_balances` came with 0003.
PAYMENTS_TABLES = [payments, ledger_transactions, ledger_entries, payouts, refunds]
