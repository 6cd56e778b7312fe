"""The escrow service's own tables (the outbox and inbox come from `shared`).

Escrow rows keep the facts of each escrow; money lives only in the ledger tables, from which
`held` is derived. A deferred trigger (migration 0002) refuses to commit an unbalanced transaction.
"""

import sqlalchemy as sa
from shared.db import new_metadata
from sqlalchemy.dialects.postgresql import JSONB

metadata = new_metadata()

Money = sa.BigInteger
When = sa.DateTime(timezone=True)

contracts = sa.Table(
    "contracts",
    metadata,
    sa.Column("contract_id", sa.String(128), primary_key=True),
    sa.Column("employer_id", sa.String(128), nullable=False, index=True),
    sa.Column("contractor_id", sa.String(128), nullable=False, index=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("agreed_amount", Money, nullable=True),
    sa.Column("title", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", When, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

escrows = sa.Table(
    "escrows",
    metadata,
    sa.Column("escrow_id", sa.String(128), primary_key=True),
    sa.Column("contract_id", sa.ForeignKey("contracts.contract_id"), nullable=False, index=True),
    sa.Column("employer_id", sa.String(128), nullable=False),
    sa.Column("contractor_id", sa.String(128), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    sa.Column("state_before_dispute", sa.String(32)),
    sa.Column("payment_id", sa.String(128)),
    sa.Column("dispute_id", sa.String(128)),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", When, nullable=False),
    sa.Column("updated_at", When, nullable=False),
    sa.Column("delivered_at", When),
    sa.Column("payment_due_at", When),
    sa.Column("last_reminded_at", When),
    sa.Column("version", sa.Integer, nullable=False),
    sa.CheckConstraint("amount > 0", name="amount_positive"),
)

ledger_transactions = sa.Table(
    "ledger_transactions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("escrow_id", sa.ForeignKey("escrows.escrow_id"), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("escrow_version", sa.Integer, nullable=False),
    sa.Column("occurred_at", When, nullable=False),
    sa.UniqueConstraint("escrow_id", "escrow_version", name="uq_ledger_transactions_version"),
)

ledger_entries = sa.Table(
    "ledger_entries",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column(
        "transaction_id", sa.ForeignKey("ledger_transactions.id"), nullable=False, index=True
    ),
    sa.Column("account", sa.String(160), nullable=False, index=True),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("amount", Money, nullable=False),
    sa.CheckConstraint("amount <> 0", name="amount_nonzero"),
)

escrow_history = sa.Table(
    "escrow_history",
    metadata,
    sa.Column("escrow_id", sa.ForeignKey("escrows.escrow_id"), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("occurred_at", When, nullable=False),
    sa.Column("actor", JSONB),
    sa.Column("event", JSONB, nullable=False),
)

escrow_timers = sa.Table(
    "escrow_timers",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("escrow_id", sa.ForeignKey("escrows.escrow_id"), nullable=False, index=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("due_at", When, nullable=False),
    sa.Column("fired_at", When),
    # tries so far (counted when claimed); after too many the timer is parked, with its error
    sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("parked_at", When),
    sa.Column("last_error", sa.Text),
    sa.Index("ix_escrow_timers_due", "due_at", postgresql_where=sa.text("fired_at IS NULL")),
    sa.Index("ix_escrow_timers_parked", "id", postgresql_where=sa.text("parked_at IS NOT NULL")),
)
